/* test-base: the byte-order helpers (lib/base/bytes.h), the whole-file reader and mkdir -p
 * (lib/base/file.h), users found in a passwd file without NSS (lib/base/passwd.h), and the
 * host-name rule the HTTP and TLS parsers share (lib/http/hostname.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/bytes.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/passwd.h"
#include "http/hostname.h"

static void test_bytes_round_trip(void **unused)
{
    uint8_t b[8] = {0};

    (void)unused;
    dj_put16(b, 0xbeef);
    assert_int_equal(b[0], 0xbe);
    assert_int_equal(b[1], 0xef);
    assert_int_equal(dj_get16(b), 0xbeef);
    dj_put32(b + 2, 0x01020304u);
    assert_memory_equal(b + 2, "\x01\x02\x03\x04", 4);
    assert_int_equal(dj_get32(b + 2), 0x01020304u);
    assert_int_equal(dj_put16_at(b, 6, 0x0a0b), 8);
    assert_int_equal(b[6], 0x0a);
    assert_int_equal(b[7], 0x0b);
    /* Unaligned reads of high bytes must not sign-extend. */
    memcpy(b, "\xff\xfe\xfd\xfc", 4);
    assert_int_equal(dj_get16(b + 1), 0xfefd);
    assert_int_equal(dj_get32(b), 0xfffefdfcu);
}

struct tmpdir {
    char path[64];
};

static int make_tmpdir(void **state)
{
    struct tmpdir *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    strcpy(t->path, "/tmp/test-base-XXXXXX");
    if (mkdtemp(t->path) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int remove_tmpdir(void **state)
{
    struct tmpdir *t = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

static void write_bytes(const char *dir, const char *name, size_t len)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc('a' + (int)(i % 26), f);
    assert_int_equal(fclose(f), 0);
}

static int open_dir(const struct tmpdir *t)
{
    int fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

/* Exactly MAX bytes is read whole (across the reader's growth steps); one more is EFBIG. */
static void test_read_at_bounds(void **state)
{
    const struct tmpdir *t = *state;
    cleanup_close int dir = open_dir(t);
    const size_t max = 200 * 1024; /* past the first 64 KiB chunk and two doublings */
    cleanup_free char *text = NULL;
    size_t len = 0;

    write_bytes(t->path, "exact", max);
    write_bytes(t->path, "over", max + 1);
    write_bytes(t->path, "empty", 0);
    assert_int_equal(dj_file_read_at(dir, "exact", max, &text, &len), 0);
    assert_int_equal(len, max);
    assert_int_equal(strlen(text), max);
    assert_int_equal(text[max - 1], 'a' + (int)((max - 1) % 26));
    free(text);
    text = NULL;
    errno = 0;
    assert_int_equal(dj_file_read_at(dir, "over", max, &text, &len), -1);
    assert_int_equal(errno, EFBIG);
    assert_null(text);
    assert_int_equal(dj_file_read_at(dir, "empty", max, &text, NULL), 0);
    assert_string_equal(text, "");
}

/* Not there, a symlink, a FIFO (which must not block the reader), a directory. */
static void test_read_at_refusals(void **state)
{
    const struct tmpdir *t = *state;
    cleanup_close int dir = open_dir(t);
    char *text = NULL;

    write_bytes(t->path, "target", 10);
    assert_int_equal(symlinkat("target", dir, "link"), 0);
    assert_int_equal(mkfifoat(dir, "fifo", 0600), 0);
    assert_int_equal(mkdirat(dir, "sub", 0700), 0);
    assert_int_equal(dj_file_read_at(dir, "missing", 100, &text, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(dj_file_read_at(dir, "link", 100, &text, NULL), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(dj_file_read_at(dir, "fifo", 100, &text, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(dj_file_read_at(dir, "sub", 100, &text, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(text);
}

/* From a pipe: whatever stands before EOF, bounded the same way. */
static void test_read_fd_pipe(void **unused)
{
    int p[2];
    cleanup_free char *text = NULL;
    size_t len = 0;

    (void)unused;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hello", 5), 5);
    close(p[1]);
    assert_int_equal(dj_file_read_fd(p[0], 5, &text, &len), 0);
    close(p[0]);
    assert_string_equal(text, "hello");
    assert_int_equal(len, 5);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hello!", 6), 6);
    close(p[1]);
    free(text);
    text = NULL;
    assert_int_equal(dj_file_read_fd(p[0], 5, &text, &len), -1);
    assert_int_equal(errno, EFBIG);
    close(p[0]);
}

/* From offset 0 whatever the offset stands at, and leaving it there (two daemons share one
 * memfd); a pipe, which has no offset, is read as it comes. */
static void test_pread_fd(void **unused)
{
    char path[] = "/tmp/test-base-pread-XXXXXX";
    int fd = mkstemp(path), p[2];
    cleanup_free char *text = NULL;
    size_t len = 0;

    (void)unused;
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    assert_int_equal(lseek(fd, 4, SEEK_SET), 4);
    assert_int_equal(dj_file_pread_fd(fd, 10, &text, &len), 0);
    assert_string_equal(text, "0123456789");
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 4);
    free(text);
    text = NULL;
    assert_int_equal(dj_file_pread_fd(fd, 9, &text, &len), -1);
    assert_int_equal(errno, EFBIG);
    close(fd);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "abc", 3), 3);
    close(p[1]);
    assert_int_equal(dj_file_pread_fd(p[0], 10, &text, &len), 0);
    assert_string_equal(text, "abc");
    close(p[0]);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    return st.st_mode & 07777;
}

static void test_mkdir_p(void **state)
{
    const struct tmpdir *t = *state;
    char leaf[PATH_MAX], parent[PATH_MAX];
    dj_error_t err = NULL;
    mode_t old = umask(0);

    snprintf(parent, sizeof(parent), "%s/a/b", t->path);
    snprintf(leaf, sizeof(leaf), "%s/a/b/c", t->path);
    assert_int_equal(dj_file_mkdir_p(leaf, 0750, 0700, &err), 0);
    assert_int_equal(mode_of(parent), 0750);
    assert_int_equal(mode_of(leaf), 0700);
    /* Again: existing directories are fine and keep their modes. */
    assert_int_equal(dj_file_mkdir_p(leaf, 0755, 0755, &err), 0);
    assert_int_equal(mode_of(leaf), 0700);
    /* A file in the way is an error that names the path. */
    write_bytes(t->path, "file", 1);
    snprintf(leaf, sizeof(leaf), "%s/file/x", t->path);
    assert_int_equal(dj_file_mkdir_p(leaf, 0755, 0755, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(dj_error_msg(&err), "/file/x"));
    dj_error_release(&err);
    umask(old);
}

static enum dj_hostname_problem check(const char *name)
{
    unsigned char bad = 0;

    return dj_hostname_check(name, strlen(name), &bad);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* By name and by uid, the first matching line wins; a missing user is 0, not an error. */
static void test_passwd_find(void **state)
{
    const struct tmpdir *t = *state;
    struct dj_passwd_user user;
    char path[PATH_MAX];
    dj_error_t err = NULL;

    write_text(t->path, "passwd",
               "root:x:0:0:root:/root:/bin/bash\n"
               "not an entry\n"
               "dnsjail:x:998:997:dnsjail daemons:/nonexistent:/usr/sbin/nologin\n"
               "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
               "alias:x:1000:1001::/home/alias:/bin/sh\n");
    snprintf(path, sizeof(path), "%s/passwd", t->path);

    assert_int_equal(dj_passwd_find(path, "dnsjail", 0, &user, &err), 1);
    assert_int_equal(user.uid, 998);
    assert_int_equal(user.gid, 997);
    assert_string_equal(user.home, "/nonexistent");
    dj_passwd_user_free(&user);

    assert_int_equal(dj_passwd_find(path, NULL, 1000, &user, &err), 1);
    assert_int_equal(user.gid, 1000);
    assert_string_equal(user.home, "/home/alice");
    dj_passwd_user_free(&user);

    /* A prefix of a name is not the name. */
    assert_int_equal(dj_passwd_find(path, "dns", 0, &user, &err), 0);
    assert_int_equal(dj_passwd_find(path, NULL, 4000000123u, &user, &err), 0);
    assert_null(err);
}

/* A file that cannot be read, or a line too long to parse, is an error: the user might be
 * there, so "not found" would be a guess. */
static void test_passwd_refusals(void **state)
{
    const struct tmpdir *t = *state;
    struct dj_passwd_user user;
    char path[PATH_MAX];
    dj_error_t err = NULL;
    size_t long_len = 20000;
    char *line = malloc(long_len + 64);

    snprintf(path, sizeof(path), "%s/missing", t->path);
    assert_int_equal(dj_passwd_find(path, "root", 0, &user, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "missing"));
    dj_error_release(&err);

    assert_non_null(line);
    memcpy(line, "wanted:x:5:5:", 13);
    memset(line + 13, 'g', long_len);
    strcpy(line + 13 + long_len, ":/home/wanted:/bin/sh\n");
    write_text(t->path, "long", line);
    free(line);
    snprintf(path, sizeof(path), "%s/long", t->path);
    assert_int_equal(dj_passwd_find(path, "wanted", 0, &user, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "longer than"));
    dj_error_release(&err);
}

static void test_hostname(void **unused)
{
    char longest[DJ_HOSTNAME_MAX + 2];
    char label[DJ_HOSTNAME_MAX_LABEL + 2];
    unsigned char bad = 0;

    (void)unused;
    assert_int_equal(check("example.com"), DJ_HOSTNAME_OK);
    assert_int_equal(check("example.com."), DJ_HOSTNAME_OK);
    assert_int_equal(check("_srv.a-b.EXAMPLE"), DJ_HOSTNAME_OK);
    assert_int_equal(check("192.0.2.1"), DJ_HOSTNAME_OK);
    assert_int_equal(check(""), DJ_HOSTNAME_EMPTY);
    assert_int_equal(check("."), DJ_HOSTNAME_EMPTY);
    assert_int_equal(check("a..b"), DJ_HOSTNAME_EMPTY_LABEL);
    assert_int_equal(check(".a"), DJ_HOSTNAME_EMPTY_LABEL);
    assert_int_equal(check("a.."), DJ_HOSTNAME_EMPTY_LABEL);
    /* 253 bytes of labels of 63 are the most; 254 is too long. */
    memset(longest, 'a', sizeof(longest));
    for (size_t i = 63; i < DJ_HOSTNAME_MAX; i += 64)
        longest[i] = '.';
    longest[DJ_HOSTNAME_MAX] = '\0';
    assert_int_equal(check(longest), DJ_HOSTNAME_OK);
    longest[DJ_HOSTNAME_MAX] = 'a';
    longest[DJ_HOSTNAME_MAX + 1] = '\0';
    assert_int_equal(check(longest), DJ_HOSTNAME_TOO_LONG);
    memset(label, 'b', sizeof(label));
    label[DJ_HOSTNAME_MAX_LABEL] = '\0';
    assert_int_equal(check(label), DJ_HOSTNAME_OK);
    label[DJ_HOSTNAME_MAX_LABEL] = 'b';
    label[DJ_HOSTNAME_MAX_LABEL + 1] = '\0';
    assert_int_equal(check(label), DJ_HOSTNAME_LABEL_TOO_LONG);
    /* The first byte that is not allowed is reported, NUL and non-ASCII included. */
    assert_int_equal(dj_hostname_check("a%2e", 4, &bad), DJ_HOSTNAME_BAD_CHAR);
    assert_int_equal(bad, '%');
    assert_int_equal(dj_hostname_check("a\0b", 3, &bad), DJ_HOSTNAME_BAD_CHAR);
    assert_int_equal(bad, 0);
    assert_int_equal(dj_hostname_check("\xc3\xa9t\xc3\xa9", 6, &bad), DJ_HOSTNAME_BAD_CHAR);
    assert_int_equal(bad, 0xc3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_round_trip),
        cmocka_unit_test_setup_teardown(test_read_at_bounds, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_read_at_refusals, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_read_fd_pipe),
        cmocka_unit_test(test_pread_fd),
        cmocka_unit_test_setup_teardown(test_mkdir_p, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_passwd_find, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_passwd_refusals, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_hostname),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
