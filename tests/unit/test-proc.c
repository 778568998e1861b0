/* test-proc.c: the start-time reader of /proc/PID/stat (command names with blanks and
 * parentheses, truncated and malformed lines), the /proc scan of a network namespace, which
 * needs no privilege for the test's own processes, and the jail's records of its members'
 * inits and its bystanders (in a temporary state directory). */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/state.h"
#include "jail/proc.h"

static int parse(const char *line, unsigned long long *start)
{
    return dj_proc_parse_start(line, strlen(line), start);
}

static void test_parse_start(void **unused)
{
    unsigned long long start = 0;

    (void)unused;
    assert_int_equal(
        parse("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0\n", &start), 0);
    assert_int_equal(start, 77);
    /* A name that imitates the fields: only the last ')' ends it. */
    assert_int_equal(parse("9 (a) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 5 ) R 1 2 3 4 5 6 7 8 "
                           "9 10 11 12 13 14 15 16 17 18 123456 0\n",
                           &start),
                     0);
    assert_int_equal(start, 123456);
    assert_int_equal(parse("3 (x y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4", &start), 0);
    assert_int_equal(start, 4);
}

static void test_parse_refuses(void **unused)
{
    unsigned long long start = 0;

    (void)unused;
    assert_int_equal(parse("", &start), -1);
    assert_int_equal(parse("1 init S 0 1", &start), -1);
    assert_int_equal(parse("1 (init) S 0 1 1\n", &start), -1);
    assert_int_equal(parse("1 (init) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -4 0", &start),
                     -1);
    assert_int_equal(parse("1 (init)  S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4 0", &start),
                     -1);
    assert_int_equal(
        parse("1 (i) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99999999999999999999999 0",
              &start),
        -1);
}

static void self_netns(dev_t *dev, ino_t *ino)
{
    struct stat sb;

    assert_int_equal(stat("/proc/self/ns/net", &sb), 0);
    *dev = sb.st_dev;
    *ino = sb.st_ino;
}

/* The scan finds this process and a child, and loses the child once it has exited (a
 * zombie is in no namespace any more); an identity stops matching once the pid is gone. */
static void test_scan_own_namespace(void **unused)
{
    struct dj_proc_id self, child_id, *list = NULL;
    dj_error_t err = NULL;
    size_t n = 0;
    dev_t dev;
    ino_t ino;
    pid_t child;
    int pipefd[2];
    char c;

    (void)unused;
    self_netns(&dev, &ino);
    assert_int_equal(pipe(pipefd), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(pipefd[1]);
        _exit(read(pipefd[0], &c, 1) < 0);
    }
    close(pipefd[0]);
    assert_int_equal(dj_proc_identify(getpid(), &self), 0);
    assert_int_equal(dj_proc_identify(child, &child_id), 0);
    assert_true(dj_proc_same(&self));
    assert_int_equal(dj_proc_netns_list(dev, ino, &list, &n, &err), 0);
    assert_true(dj_proc_in(&self, list, n));
    assert_true(dj_proc_in(&child_id, list, n));
    free(list);

    close(pipefd[1]); /* the child exits */
    for (int i = 0; i < 500; i++) {
        char path[64];
        struct stat sb;

        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)child);
        if (stat(path, &sb) < 0)
            break;
        usleep(2000);
    }
    assert_int_equal(dj_proc_netns_list(dev, ino, &list, &n, &err), 0);
    assert_true(dj_proc_in(&self, list, n));
    assert_false(dj_proc_in(&child_id, list, n)); /* a zombie now, not yet reaped */
    free(list);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_false(dj_proc_same(&child_id));

    /* Another namespace's identity lists nothing of ours. */
    assert_int_equal(dj_proc_netns_list(dev, ino + 1, &list, &n, &err), 0);
    assert_false(dj_proc_in(&self, list, n));
    free(list);
}

static void remember_member(struct dj_state *st, const char *key, const char *id,
                            const struct dj_proc_id *init, void *data)
{
    struct dj_proc_id *seen = data;

    (void)st;
    assert_string_equal(key, "12-34");
    if (strcmp(id, "with-init") == 0)
        seen[0] = *init;
    else if (strcmp(id, "without") == 0)
        seen[1] = *init;
    else
        fail();
}

static void test_state_records(void **unused)
{
    char dir[] = "/tmp/test-proc-XXXXXX";
    struct dj_state st = {NULL, -1};
    struct dj_proc_id init = {4242, 987654321ULL}, seen[2] = {{-1, 1}, {-1, 1}};
    struct dj_proc_id by[3] = {{10, 1}, {11, 2}, {4194303, 18446744073709551615ULL}};
    struct dj_proc_id *read_back = NULL;
    dj_error_t err = NULL;
    size_t n = 0;
    dev_t dev;
    ino_t ino;

    (void)unused;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(dj_state_open(&st, dir, &err), 0);
    assert_int_equal(dj_state_netns_key_parse("12-34", &dev, &ino), 0);
    assert_int_equal(dev, 12);
    assert_int_equal(ino, 34);
    assert_int_equal(dj_state_netns_key_parse("12-34x", &dev, &ino), -1);
    assert_int_equal(dj_state_netns_key_parse("../12-34", &dev, &ino), -1);

    assert_int_equal(dj_state_ns_create(&st, "12-34", "mode=enforce allow=", &err), 0);
    assert_int_equal(dj_state_ns_add_member(&st, "12-34", "with-init", &init, &err), 0);
    assert_int_equal(dj_state_ns_add_member(&st, "12-34", "without", NULL, &err), 0);
    dj_state_ns_member_foreach(&st, "12-34", remember_member, seen);
    assert_int_equal(seen[0].pid, 4242);
    assert_true(seen[0].start == 987654321ULL);
    assert_int_equal(seen[1].pid, 0); /* a record without an init: unknown */

    dj_state_ns_read_bystanders(&st, "12-34", &read_back, &n);
    assert_int_equal(n, 0); /* none recorded yet */
    free(read_back);
    assert_int_equal(dj_state_ns_write_bystanders(&st, "12-34", by, 3, &err), 0);
    dj_state_ns_read_bystanders(&st, "12-34", &read_back, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(dj_proc_in(&by[i], read_back, n));
    free(read_back);

    assert_int_equal(dj_state_ns_remove_member(&st, "12-34", "without"), 1);
    assert_int_equal(dj_state_ns_remove_member(&st, "12-34", "with-init"), 0);
    dj_state_ns_remove(&st, "12-34");
    dj_state_close(&st);
    for (size_t i = 0; i < 3; i++) {
        static const char *const leaves[] = {"lock", "containers", "netns"};
        char path[sizeof(dir) + 16];

        snprintf(path, sizeof(path), "%s/%s", dir, leaves[i]);
        assert_int_equal(i == 0 ? unlink(path) : rmdir(path), 0);
    }
    assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_start),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_scan_own_namespace),
        cmocka_unit_test(test_state_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
