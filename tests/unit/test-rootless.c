/* test-rootless: lib/jail/rootless, the hook under rootless podman. The per-user paths come from
 * /etc/passwd and the uid map, never from the environment (a rootless user sets
 * HOME and XDG_* at will); detection and "does uid 0 mean root" are checked in user
 * namespaces this test creates, with uid maps it writes (needs root: skipped otherwise). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/adminconf.h"
#include "jail/rootless.h"

/* A uid no /etc/passwd names and no /run/user directory belongs to. */
#define NOBODY_UID 4000000123u

static void set_hostile_environment(void)
{
    setenv("HOME", "/tmp/dj-evil-home", 1);
    setenv("XDG_RUNTIME_DIR", "/tmp/dj-evil-runtime", 1);
    setenv("XDG_CONFIG_HOME", "/tmp/dj-evil-config", 1);
    setenv("XDG_STATE_HOME", "/tmp/dj-evil-state", 1);
}

static void test_config_path(void **state)
{
    struct dj_rootless rl = {.active = true, .outer_uid = 1000, .home = (char *)"/home/alice"};
    char *path;

    (void)state;
    set_hostile_environment();
    path = dj_rootless_config_path(&rl);
    assert_string_equal(path, "/home/alice/.config/dnsjail/dnsjail.conf");
    free(path);
}

static void assert_private_dir(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
}

/* Without a usable /run/user/UID: state and log below HOME/.local/state/dnsjail, which is
 * created private; everything else keeps its default. */
static void test_defaults_below_home(void **state)
{
    char home[] = "/tmp/dj-rootless-XXXXXX";
    char want[PATH_MAX], dir[PATH_MAX], runtime[64];
    struct dj_rootless rl = {.active = true, .outer_uid = NOBODY_UID};
    struct dj_adminconf cfg, defaults;
    dj_error_t err = NULL;
    struct stat st;

    (void)state;
    snprintf(runtime, sizeof(runtime), "/run/user/%u", NOBODY_UID);
    assert_int_equal(stat(runtime, &st), -1);
    assert_non_null(mkdtemp(home));
    rl.home = home;
    set_hostile_environment();
    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    assert_int_equal(dj_adminconf_init(&defaults, &err), 0);
    assert_int_equal(dj_rootless_apply_defaults(&rl, &cfg, &err), 0);
    assert_null(err);
    snprintf(want, sizeof(want), "%s/.local/state/dnsjail/run", home);
    assert_string_equal(cfg.state_dir, want);
    snprintf(want, sizeof(want), "%s/.local/state/dnsjail/dnsjail.log", home);
    assert_string_equal(cfg.log_file, want);
    assert_string_not_equal(defaults.state_dir, cfg.state_dir);
    /* Only those two change. */
    assert_string_equal(cfg.run_as_user, defaults.run_as_user);
    assert_string_equal(cfg.libexec_dir, defaults.libexec_dir);
    snprintf(dir, sizeof(dir), "%s/.local", home);
    assert_private_dir(dir);
    snprintf(dir, sizeof(dir), "%s/.local/state", home);
    assert_private_dir(dir);
    snprintf(dir, sizeof(dir), "%s/.local/state/dnsjail", home);
    assert_private_dir(dir);

    /* Again over existing directories: the same result. */
    assert_int_equal(dj_rootless_apply_defaults(&rl, &cfg, &err), 0);
    snprintf(want, sizeof(want), "%s/.local/state/dnsjail/dnsjail.log", home);
    assert_string_equal(cfg.log_file, want);

    dj_adminconf_free(&cfg);
    dj_adminconf_free(&defaults);
    rmdir(dir);
    snprintf(dir, sizeof(dir), "%s/.local/state", home);
    rmdir(dir);
    snprintf(dir, sizeof(dir), "%s/.local", home);
    rmdir(dir);
    rmdir(home);
}

/* A HOME whose .local is a file: the log directory cannot be made, and the error says where. */
static void test_defaults_refused(void **state)
{
    char home[] = "/tmp/dj-rootless-XXXXXX";
    char file[PATH_MAX], want[PATH_MAX + 64];
    struct dj_rootless rl = {.active = true, .outer_uid = NOBODY_UID};
    struct dj_adminconf cfg, defaults;
    dj_error_t err = NULL;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(home));
    rl.home = home;
    snprintf(file, sizeof(file), "%s/.local", home);
    fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    assert_int_equal(dj_adminconf_init(&defaults, &err), 0);
    assert_int_equal(dj_rootless_apply_defaults(&rl, &cfg, &err), -1);
    snprintf(want, sizeof(want), "mkdir %s/.local/state: Not a directory", home);
    assert_string_equal(dj_error_msg(&err), want);
    dj_error_release(&err);
    /* The system's log file is not kept as if it were usable. */
    assert_string_equal(cfg.log_file, defaults.log_file);
    dj_adminconf_free(&cfg);
    dj_adminconf_free(&defaults);
    unlink(file);
    rmdir(home);
}

/* What a child reports back: one line of text. */
static void child_report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void child_report(int fd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        _exit(3);
}

/* Runs BODY in a child that first becomes UID (unless -1) and enters a new user namespace,
 * whose uid map (MAP) this process writes. Returns the child's report; an empty report with
 * "skip" means user namespaces are not available here. */
static void in_user_namespace(long uid, const char *map, void (*body)(int report), char *out,
                              size_t size)
{
    int go[2], ready[2], report[2];
    char path[64], byte;
    size_t got = 0;
    pid_t pid;
    int fd, status;
    ssize_t n;

    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(report, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if ((uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) ||
            unshare(CLONE_NEWUSER) < 0) {
            child_report(report[1], "skip: %s", strerror(errno));
            _exit(0);
        }
        if (write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) != 1)
            _exit(2);
        body(report[1]);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    close(report[1]);
    if (read(ready[0], &byte, 1) == 1) {
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, map, strlen(map)), (ssize_t)strlen(map));
        close(fd);
        assert_int_equal(write(go[1], "g", 1), 1);
    }
    while ((n = read(report[0], out + got, size - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(go[1]);
    close(ready[0]);
    close(report[0]);
    if (strncmp(out, "skip:", 5) == 0) {
        print_message("user namespaces unavailable: %s\n", out);
        skip();
    }
}

static void report_detect(int report)
{
    struct dj_rootless rl;
    dj_error_t err = NULL;
    int r;

    set_hostile_environment();
    r = dj_rootless_detect(&rl, &err);
    if (r == 0)
        child_report(report, "active=%d outer=%u home=%s", rl.active, (unsigned)rl.outer_uid,
                     rl.home != NULL ? rl.home : "-");
    else
        child_report(report, "error: %s", dj_error_msg(&err));
    dj_error_release(&err);
    dj_rootless_free(&rl);
}

static void test_detect(void **state)
{
    char out[1024], want[1024];
    struct dj_rootless rl;
    dj_error_t err = NULL;
    struct passwd *me;
    char map[64];

    (void)state;
    /* Here, when this process is in the initial namespace (its map is the identity). */
    {
        FILE *self_map = fopen("/proc/self/uid_map", "re");
        unsigned long a = 1, b = 1, c = 0;
        int fields = self_map != NULL ? fscanf(self_map, "%lu %lu %lu", &a, &b, &c) : 0;

        if (self_map != NULL)
            fclose(self_map);
        if (fields == 3 && a == 0 && b == 0 && c == 4294967295ul) {
            assert_int_equal(dj_rootless_detect(&rl, &err), 0);
            assert_false(rl.active);
            assert_null(rl.home);
            dj_rootless_free(&rl);
        }
    }
    /* Root of a namespace that is our uid outside (rootless podman's case; any user may
     * write this map): active, home from /etc/passwd. */
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)geteuid());
    in_user_namespace(-1, map, report_detect, out, sizeof(out));
    me = getpwuid(geteuid());
    if (me != NULL)
        snprintf(want, sizeof(want), "active=1 outer=%u home=%s", (unsigned)geteuid(), me->pw_dir);
    else
        snprintf(want, sizeof(want), "error: rootless: uid %u is not in /etc/passwd",
                 (unsigned)geteuid());
    assert_string_equal(out, want);

    /* Maps of other uids than ours need root. */
    if (geteuid() != 0)
        skip();

    /* Uid 0 inside is a user outside that /etc/passwd does not know. */
    in_user_namespace(NOBODY_UID, "0 4000000123 1\n", report_detect, out, sizeof(out));
    assert_string_equal(out, "error: rootless: uid 4000000123 is not in /etc/passwd");

    /* Our own uid left out of the map: refused, not guessed. */
    in_user_namespace(-1, "0 4000000123 1\n", report_detect, out, sizeof(out));
    assert_string_equal(out, "error: uid 65534 has no mapping in /proc/self/uid_map");
}

/* Runs BODY in a forked child (its own process: securebits, uids and namespaces it changes
 * stay there) and returns what it reported. */
static void in_child(void (*body)(int report), char *out, size_t size)
{
    int p[2], status;
    size_t got = 0;
    pid_t pid;
    ssize_t n;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        body(p[1]);
        _exit(0);
    }
    close(p[1]);
    while ((n = read(p[0], out + got, size - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(p[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void report_means_root(int report)
{
    bool before = dj_rootless_uid_means_root();
    int set = prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0);

    child_report(report, "before=%d set=%d after=%d", before, set, dj_rootless_uid_means_root());
}

static void report_as_nobody(int report)
{
    if (setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0)
        _exit(1);
    child_report(report, "means_root=%d", dj_rootless_uid_means_root());
}

/* Uid 0 means root unless it is a user namespace's root with NOROOT set. */
static void test_uid_means_root(void **state)
{
    char out[256];
    char map[64];

    (void)state;

    /* A user namespace's root: root until NOROOT, nobody after. */
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)geteuid());
    in_user_namespace(-1, map, report_means_root, out, sizeof(out));
    assert_string_equal(out, "before=1 set=0 after=0");

    if (geteuid() != 0) {
        assert_false(dj_rootless_uid_means_root());
        skip();
    }
    assert_true(dj_rootless_uid_means_root());

    /* In the initial namespace NOROOT does not make uid 0 harmless: it owns the host's files. */
    in_child(report_means_root, out, sizeof(out));
    assert_string_equal(out, "before=1 set=0 after=1");

    /* Not uid 0 at all. */
    in_child(report_as_nobody, out, sizeof(out));
    assert_string_equal(out, "means_root=0");
}

/* The XDG runtime directory /run/user/UID is used only when it is ours and private; checked
 * under a private tmpfs on /run/user in a mount namespace of our own (needs root). */
static void report_runtime_choice(int report)
{
    static const struct {
        mode_t mode;
        uid_t owner;
    } dirs[] = {{0700, 0}, {0755, 0}, {0700, 12345}};
    char home[] = "/tmp/dj-rootless-XXXXXX", runtime[64];

    snprintf(runtime, sizeof(runtime), "/run/user/%u", NOBODY_UID);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("dj-test", "/run/user", "tmpfs", 0, "mode=0755") < 0 || mkdtemp(home) == NULL) {
        child_report(report, "skip: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        struct dj_rootless rl = {.active = true, .outer_uid = NOBODY_UID, .home = home};
        struct dj_adminconf cfg;
        dj_error_t err = NULL;

        rmdir(runtime);
        if (mkdir(runtime, dirs[i].mode) < 0 || chmod(runtime, dirs[i].mode) < 0 ||
            chown(runtime, dirs[i].owner, 0) < 0 || dj_adminconf_init(&cfg, &err) < 0 ||
            dj_rootless_apply_defaults(&rl, &cfg, &err) < 0) {
            child_report(report, "error: %s %s|", strerror(errno), dj_error_msg(&err));
            dj_error_release(&err);
            continue;
        }
        child_report(report, "%s|",
                     strncmp(cfg.state_dir, home, strlen(home)) == 0 ? cfg.state_dir + strlen(home)
                                                                     : cfg.state_dir);
        dj_adminconf_free(&cfg);
    }
    for (size_t i = 0; i < 4; i++) {
        static const char *const below[] = {"/.local/state/dnsjail", "/.local/state", "/.local",
                                            ""};
        char path[128];

        snprintf(path, sizeof(path), "%s%s", home, below[i]);
        rmdir(path);
    }
}

static void test_runtime_dir(void **state)
{
    char out[1024];

    (void)state;
    if (geteuid() != 0)
        skip();
    in_child(report_runtime_choice, out, sizeof(out));
    if (strncmp(out, "skip:", 5) == 0) {
        print_message("no private mount namespace: %s\n", out);
        skip();
    }
    assert_string_equal(out, "/run/user/4000000123/dnsjail|"
                             "/.local/state/dnsjail/run|/.local/state/dnsjail/run|");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_path),      cmocka_unit_test(test_defaults_below_home),
        cmocka_unit_test(test_defaults_refused), cmocka_unit_test(test_detect),
        cmocka_unit_test(test_uid_means_root),   cmocka_unit_test(test_runtime_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
