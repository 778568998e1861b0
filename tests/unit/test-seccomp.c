/* The seccomp filters the daemons ship (generated at build time, in lib/libdnsjail.a) against
 * what libseccomp generates now from the same rules (lib/daemon/seccompprofile.c), byte for
 * byte; and the profiles' behaviour under the kernel: a syscall outside the list kills, a spare
 * profile forks and then stacks its daemon's filter, which takes fork away again. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/sandbox.h"
#include "daemon/seccompbuild.h"
#include "daemon/seccompprofile.h"

static void test_shipped_filters_match_libseccomp(void **state)
{
    (void)state;
    for (size_t i = 0; i < DJ_SECCOMP_PROFILE_COUNT; i++) {
        const struct dj_seccomp_rules *p = &dj_seccomp_profiles[i];

        for (int with_dir = 0; with_dir <= 1; with_dir++) {
            const struct dj_seccomp_program *shipped = &dj_seccomp_programs[i][with_dir];
            int rules_dir = dj_seccomp_variant_exists(p, with_dir) ? with_dir : !with_dir;
            unsigned char *bpf = NULL;
            size_t len = 0;
            const char *step = "";
            int r = dj_seccompbuild_export(p, rules_dir, &bpf, &len, &step);

            if (r < 0)
                fail_msg("%s: %s: %s", p->name, step, strerror(-r));
            if (len != shipped->len * sizeof(struct sock_filter) ||
                memcmp(bpf, shipped->insns, len) != 0) {
                free(bpf);
                fail_msg("the shipped filter '%s' (%s the directory's rules, %u instructions) is "
                         "not what libseccomp generates from lib/daemon/seccompprofile.c now "
                         "(%zu instructions): regenerate lib/daemon/seccomp-filters.c",
                         p->name, rules_dir ? "with" : "without", (unsigned)shipped->len,
                         len / sizeof(struct sock_filter));
            }
            free(bpf);
        }
    }
}

enum action { GETPID, GETPPID, SPARE_FORK_THEN_STACK, STACKED_FORK };

/* Runs ACTION in a child under PROFILE's filter (without the directory's rules) and returns
 * its wait status. */
static int run_filtered(enum dj_seccomp_profile profile, enum action action)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            dj_sandbox_seccomp_load(profile, -1, NULL) < 0)
            _exit(2);
        switch (action) {
        case GETPID:
            _exit(syscall(SYS_getpid) > 0 ? 0 : 3);
        case GETPPID: /* in no list */
            syscall(SYS_getppid);
            _exit(4);
        case SPARE_FORK_THEN_STACK: {
            /* The successor only exits: the test sees its parent go on, not reap it (wait4
             * is in no list), and init reaps it. */
            pid_t successor = fork();

            if (successor == 0)
                _exit(0);
            if (successor < 0)
                _exit(5);
            _exit(dj_sandbox_seccomp_load(DJ_SECCOMP_STUB, -1, NULL) == 0 ? 0 : 6);
        }
        case STACKED_FORK:
            if (dj_sandbox_seccomp_load(DJ_SECCOMP_STUB, -1, NULL) < 0)
                _exit(7);
            fork();
            _exit(8);
        }
        _exit(9);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_exited_0(int status)
{
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_killed_by_seccomp(int status)
{
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_listed_syscall_runs(void **state)
{
    (void)state;
    assert_exited_0(run_filtered(DJ_SECCOMP_STUB, GETPID));
    assert_exited_0(run_filtered(DJ_SECCOMP_PROXY, GETPID));
}

static void test_unlisted_syscall_kills(void **state)
{
    (void)state;
    assert_killed_by_seccomp(run_filtered(DJ_SECCOMP_STUB, GETPPID));
    assert_killed_by_seccomp(run_filtered(DJ_SECCOMP_PROXY, GETPPID));
}

static void test_spare_forks_then_stacks(void **state)
{
    (void)state;
    assert_exited_0(run_filtered(DJ_SECCOMP_STUB_SPARE, SPARE_FORK_THEN_STACK));
    assert_killed_by_seccomp(run_filtered(DJ_SECCOMP_STUB_SPARE, STACKED_FORK));
}

static void test_refuses_another_dir_fd(void **state)
{
    dj_error_t err = NULL;

    (void)state;
    assert_int_equal(dj_sandbox_seccomp_load(DJ_SECCOMP_STUB, DJ_SECCOMP_DIR_FD + 1, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "descriptor"));
    dj_error_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_filters_match_libseccomp),
        cmocka_unit_test(test_listed_syscall_runs),
        cmocka_unit_test(test_unlisted_syscall_kills),
        cmocka_unit_test(test_spare_forks_then_stacks),
        cmocka_unit_test(test_refuses_another_dir_fd),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
