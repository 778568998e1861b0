#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/metrics.h"
#include "report/promtext.h"
#include "daemon/sandbox.h"

static const char *render(struct dj_metrics *m)
{
    const char *text = NULL;
    dj_error_t err = NULL;

    if (dj_metrics_render(m, &text, &err) < 0)
        fail_msg("render: %s", dj_error_msg(&err));
    return text;
}

static struct dj_metric *reg(struct dj_metrics *m, enum dj_metric_type type, const char *name,
                             const char *help, const char *label, const char *value)
{
    struct dj_metric_label l = {label, value};
    dj_error_t err = NULL;
    struct dj_metric *s = dj_metrics_register(m, type, name, help, &l, label != NULL, &err);

    if (s == NULL)
        fail_msg("register %s: %s", name, dj_error_msg(&err));
    return s;
}

static void test_empty(void **state)
{
    struct dj_metrics *m = dj_metrics_new(NULL);

    (void)state;
    assert_string_equal(render(m), "");
    dj_metrics_free(m);
}

static void test_counters_grouped_by_family(void **state)
{
    struct dj_metrics *m = dj_metrics_new(NULL);
    struct dj_metric *sink, *active, *fwd;

    (void)state;
    assert_int_equal(dj_metrics_add_const_label(m, "netns", "3-4026532", NULL), 0);
    assert_int_equal(dj_metrics_add_const_label(m, "container", "", NULL), 0); /* left out */
    sink = reg(m, DJ_METRIC_COUNTER, "dnsjail_q_total", "Queries.", "outcome", "sinkholed");
    active = reg(m, DJ_METRIC_GAUGE, "dnsjail_active", "Open now.", NULL, NULL);
    fwd = reg(m, DJ_METRIC_COUNTER, "dnsjail_q_total", "Queries.", "outcome", "forwarded");
    dj_metric_set(sink, 12);
    dj_metric_set(fwd, 18446744073709551615ull);
    dj_metric_set(active, 3);
    assert_string_equal(render(m), "# HELP dnsjail_q_total Queries.\n"
                                   "# TYPE dnsjail_q_total counter\n"
                                   "dnsjail_q_total{netns=\"3-4026532\",outcome=\"sinkholed\"} 12\n"
                                   "dnsjail_q_total{netns=\"3-4026532\",outcome=\"forwarded\"} "
                                   "18446744073709551615\n"
                                   "# HELP dnsjail_active Open now.\n"
                                   "# TYPE dnsjail_active gauge\n"
                                   "dnsjail_active{netns=\"3-4026532\"} 3\n");
    dj_metrics_free(m);
}

static void test_no_labels_no_braces(void **state)
{
    struct dj_metrics *m = dj_metrics_new(NULL);

    (void)state;
    dj_metric_set(reg(m, DJ_METRIC_COUNTER, "x_total", "X.", NULL, NULL), 0);
    assert_string_equal(render(m), "# HELP x_total X.\n# TYPE x_total counter\nx_total 0\n");
    dj_metrics_free(m);
}

static void test_escaping(void **state)
{
    struct dj_metrics *m = dj_metrics_new(NULL);

    (void)state;
    assert_int_equal(dj_metrics_add_const_label(m, "container", "a\"b\\c\nd", NULL), 0);
    reg(m, DJ_METRIC_GAUGE, "g", "Back\\slash and\nnewline \"quoted\".", NULL, NULL);
    assert_string_equal(render(m), "# HELP g Back\\\\slash and\\nnewline \"quoted\".\n"
                                   "# TYPE g gauge\n"
                                   "g{container=\"a\\\"b\\\\c\\nd\"} 0\n");
    dj_metrics_free(m);
}

static void test_histogram(void **state)
{
    static const double bounds[] = {0.005, 0.1, 1, 2.5};
    struct dj_metric_label l = {"upstream", "192.0.2.53"};
    struct dj_metrics *m = dj_metrics_new(NULL);
    struct dj_metric *h;

    (void)state;
    h = dj_metrics_register_histogram(m, "lat_seconds", "Latency.", &l, 1, bounds, 4, NULL);
    assert_non_null(h);
    dj_metric_observe(h, 0.001);
    dj_metric_observe(h, 0.1); /* le is inclusive */
    dj_metric_observe(h, 0.5);
    dj_metric_observe(h, 7);
    assert_string_equal(render(m), "# HELP lat_seconds Latency.\n"
                                   "# TYPE lat_seconds histogram\n"
                                   "lat_seconds_bucket{upstream=\"192.0.2.53\",le=\"0.005\"} 1\n"
                                   "lat_seconds_bucket{upstream=\"192.0.2.53\",le=\"0.1\"} 2\n"
                                   "lat_seconds_bucket{upstream=\"192.0.2.53\",le=\"1\"} 3\n"
                                   "lat_seconds_bucket{upstream=\"192.0.2.53\",le=\"2.5\"} 3\n"
                                   "lat_seconds_bucket{upstream=\"192.0.2.53\",le=\"+Inf\"} 4\n"
                                   "lat_seconds_sum{upstream=\"192.0.2.53\"} 7.601\n"
                                   "lat_seconds_count{upstream=\"192.0.2.53\"} 4\n");
    dj_metrics_free(m);
}

static void test_histogram_set_without_labels(void **state)
{
    static const double bounds[] = {1, 10};
    static const uint64_t counts[] = {2, 0, 5};
    struct dj_metrics *m = dj_metrics_new(NULL);
    struct dj_metric *h = dj_metrics_register_histogram(m, "h", "H.", NULL, 0, bounds, 2, NULL);

    (void)state;
    assert_non_null(h);
    dj_metric_set_histogram(h, counts, 3, 61.5);
    assert_string_equal(render(m), "# HELP h H.\n# TYPE h histogram\n"
                                   "h_bucket{le=\"1\"} 2\n"
                                   "h_bucket{le=\"10\"} 2\n"
                                   "h_bucket{le=\"+Inf\"} 7\n"
                                   "h_sum 61.5\n"
                                   "h_count 7\n");
    dj_metrics_free(m);
}

static void test_refusals(void **state)
{
    static const double decreasing[] = {2, 1};
    struct dj_metric_label le = {"le", "x"}, reserved = {"__x", "y"}, bad = {"a-b", "c"};
    struct dj_metrics *m = dj_metrics_new(NULL);
    char long_value[DJ_METRICS_MAX_LABEL_VALUE + 2];
    struct dj_metric_label too_long = {"v", long_value};
    dj_error_t err = NULL;

    (void)state;
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "9lives", "h", NULL, 0, &err));
    assert_non_null(strstr(dj_error_msg(&err), "not a metric name"));
    dj_error_release(&err);
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "a b", "h", NULL, 0, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "h", &le, 1, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "h", &reserved, 1, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "h", &bad, 1, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "h", &too_long, 1, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_HISTOGRAM, "c", "h", NULL, 0, NULL));
    assert_null(dj_metrics_register_histogram(m, "c", "h", NULL, 0, decreasing, 2, NULL));
    assert_null(dj_metrics_register_histogram(m, "c", "h", NULL, 0, decreasing, 0, NULL));
    /* One family, one type and one help. */
    assert_non_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "h", NULL, 0, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_GAUGE, "c", "h", NULL, 0, NULL));
    assert_null(dj_metrics_register(m, DJ_METRIC_COUNTER, "c", "other", NULL, 0, NULL));
    assert_int_equal(dj_metrics_add_const_label(m, "late", "x", NULL), -1);
    assert_string_equal(render(m), "# HELP c h\n# TYPE c counter\nc 0\n");
    dj_metrics_free(m);
}

static void test_write_at_replaces_atomically(void **state)
{
    char dir[] = "/tmp/dj-metrics-XXXXXX";
    char path[64], buf[256];
    struct dj_metrics *m = dj_metrics_new(NULL);
    struct dj_metric *c = reg(m, DJ_METRIC_COUNTER, "c_total", "C.", NULL, NULL);
    struct stat st;
    mode_t old_umask;
    dj_error_t err = NULL;
    int dir_fd, fd;
    ssize_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir_fd >= 0);
    old_umask = umask(077);
    dj_metric_set(c, 1);
    assert_int_equal(dj_metrics_write_at(m, dir_fd, "x.prom", &err), 0);
    /* A reader holding the first version keeps reading it whole. */
    snprintf(path, sizeof(path), "%s/x.prom", dir);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    dj_metric_set(c, 2);
    assert_int_equal(dj_metrics_write_at(m, dir_fd, "x.prom", &err), 0);
    umask(old_umask);
    n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "# HELP c_total C.\n# TYPE c_total counter\nc_total 1\n");
    close(fd);
    fd = open(path, O_RDONLY);
    n = read(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_string_equal(buf, "# HELP c_total C.\n# TYPE c_total counter\nc_total 2\n");
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* despite the umask */
    close(fd);
    /* Only the final name is left behind. */
    snprintf(path, sizeof(path), "%s/x.prom.tmp", dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(dj_metrics_write_at(m, dir_fd, "../x.prom", &err), -1);
    dj_error_release(&err);
    snprintf(path, sizeof(path), "%s/x.prom", dir);
    unlink(path);
    close(dir_fd);
    assert_int_equal(rmdir(dir), 0);
    dj_metrics_free(m);
}

enum sandboxed_action { WRITE_METRICS, OPEN_ELSEWHERE, OPEN_ABSOLUTE_FOR_READING, RENAME_OUT };

/* Runs ACTION in a child under the stub's shipped filter with the metrics directory's rules,
 * DIR_FD moved where they allow it, and returns its wait status. */
static int run_sandboxed(int dir_fd, enum sandboxed_action action)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct dj_metrics *m = dj_metrics_new(NULL);
        struct dj_metric *c =
            dj_metrics_register(m, DJ_METRIC_COUNTER, "c_total", "C.", NULL, 0, NULL);

        if (c == NULL || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            dj_sandbox_move_dir_fd(&dir_fd, NULL) < 0 ||
            dj_sandbox_seccomp_load(DJ_SECCOMP_STUB, dir_fd, NULL) < 0)
            _exit(2);
        dj_metric_set(c, 7);
        switch (action) {
        case WRITE_METRICS:
            /* Twice: the second rename replaces an existing file. */
            _exit(dj_metrics_write_at(m, dir_fd, "s.prom", NULL) == 0 &&
                          dj_metrics_write_at(m, dir_fd, "s.prom", NULL) == 0
                      ? 0
                      : 3);
        case OPEN_ELSEWHERE:
            open("/etc/hostname", O_RDONLY); /* openat(AT_FDCWD, ...) underneath */
            _exit(4);
        case OPEN_ABSOLUTE_FOR_READING:
            /* An absolute path makes the kernel ignore the directory fd. */
            openat(dir_fd, "/etc/hostname", O_RDONLY | O_CLOEXEC);
            _exit(7);
        case RENAME_OUT:
            renameat(dir_fd, "s.prom", AT_FDCWD, "/tmp/dj-metrics-escaped.prom");
            _exit(5);
        }
        _exit(6);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_sandboxed_write(void **state)
{
    char dir[] = "/tmp/dj-metrics-XXXXXX";
    char path[64];
    int dir_fd, status;

    (void)state;
    assert_non_null(mkdtemp(dir));
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir_fd >= 0);
    status = run_sandboxed(dir_fd, WRITE_METRICS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    snprintf(path, sizeof(path), "%s/s.prom", dir);
    assert_int_equal(access(path, R_OK), 0);
    /* The positive controls: the same filter kills anything outside the directory. */
    status = run_sandboxed(dir_fd, OPEN_ELSEWHERE);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
    status = run_sandboxed(dir_fd, OPEN_ABSOLUTE_FOR_READING);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
    status = run_sandboxed(dir_fd, RENAME_OUT);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
    assert_int_equal(access(path, R_OK), 0);
    unlink(path);
    close(dir_fd);
    assert_int_equal(rmdir(dir), 0);
}

struct collected {
    struct dj_promtext_sample samples[16];
    size_t n;
};

static bool collect(const struct dj_promtext_sample *sample, void *data)
{
    struct collected *c = data;

    if (c->n == 16)
        return false;
    c->samples[c->n++] = *sample;
    return true;
}

static void test_promtext_reads_what_metrics_writes(void **state)
{
    static const double bounds[] = {0.5};
    struct dj_metrics *m = dj_metrics_new(NULL);
    struct dj_metric_label l = {"outcome", "odd \"value\"\\\n"};
    struct collected got = {0};
    const char *text;
    long len;

    (void)state;
    assert_int_equal(dj_metrics_add_const_label(m, "netns", "1-2", NULL), 0);
    dj_metric_set(dj_metrics_register(m, DJ_METRIC_COUNTER, "q_total", "Q.", &l, 1, NULL), 42);
    dj_metric_observe(dj_metrics_register_histogram(m, "h", "H.", NULL, 0, bounds, 1, NULL), 0.25);
    len = dj_metrics_render(m, &text, NULL);
    assert_true(len > 0);
    assert_int_equal(dj_promtext_parse(text, (size_t)len, collect, &got), 0);
    assert_int_equal(got.n, 5); /* q_total, 2 buckets, sum, count */
    assert_string_equal(got.samples[0].name, "q_total");
    assert_int_equal(got.samples[0].n_labels, 2);
    assert_string_equal(dj_promtext_label_value(&got.samples[0], "netns"), "1-2");
    assert_string_equal(dj_promtext_label_value(&got.samples[0], "outcome"), "odd \"value\"\\\n");
    assert_null(dj_promtext_label_value(&got.samples[0], "missing"));
    assert_true(got.samples[0].value == 42);
    assert_string_equal(got.samples[2].name, "h_bucket");
    assert_string_equal(dj_promtext_label_value(&got.samples[2], "le"), "+Inf");
    assert_true(got.samples[3].value == 0.25);
    dj_metrics_free(m);
}

static void test_promtext_bad_lines(void **state)
{
    static const char text[] = "ok 1\n"
                               "ok{a=\"1\"} 2 1700000000000\n"
                               "  # indented comment\n"
                               "\n"
                               "9bad 1\n"
                               "novalue\n"
                               "bad{a=1} 1\n"
                               "bad{a=\"1\" 1\n"
                               "bad{a=\"\\x\"} 1\n"
                               "bad 1 2 3\n"
                               "bad 1x\n"
                               "bad{} 1 notatime\n"
                               "last{} -Inf";
    struct collected got = {0};

    (void)state;
    assert_int_equal(dj_promtext_parse(text, sizeof(text) - 1, collect, &got), 8);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.samples[2].name, "last");
    assert_true(got.samples[2].value < 0);
    /* Bytes after a NUL are not hidden from the line check. */
    assert_int_equal(dj_promtext_parse("a 1\0b 2\n", 8, collect, &got), 1);
    assert_int_equal(dj_promtext_parse("", DJ_PROMTEXT_MAX_BYTES + 1, collect, &got), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_counters_grouped_by_family),
        cmocka_unit_test(test_no_labels_no_braces),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_set_without_labels),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_write_at_replaces_atomically),
        cmocka_unit_test(test_sandboxed_write),
        cmocka_unit_test(test_promtext_reads_what_metrics_writes),
        cmocka_unit_test(test_promtext_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
