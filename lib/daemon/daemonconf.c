#include "config.h"
#include "daemon/daemonconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"

enum kind { ONE, LIST, FLAG };

static const struct {
    const char *name;
    enum kind kind;
} keys[DJ_DC_N_KEYS] = {
    [DJ_DC_LOG_RATE] = {"log-rate", ONE},
    [DJ_DC_LOG_BURST] = {"log-burst", ONE},
    [DJ_DC_NETNS_KEY] = {"netns-key", ONE},
    [DJ_DC_SYSTEM_LOG_FORMAT] = {"system-log-format", ONE},
    [DJ_DC_AUDIT] = {"audit", FLAG},
    [DJ_DC_FORWARD] = {"forward", LIST},
    [DJ_DC_VIRTUAL_IPV4] = {"virtual-ipv4", ONE},
    [DJ_DC_VIRTUAL_IPV6] = {"virtual-ipv6", ONE},
    [DJ_DC_VIRTUAL_MAX_NAMES] = {"virtual-max-names", ONE},
    [DJ_DC_SINKHOLE_IPV4] = {"sinkhole-ipv4", ONE},
    [DJ_DC_SINKHOLE_IPV6] = {"sinkhole-ipv6", ONE},
    [DJ_DC_TTL] = {"ttl", ONE},
    [DJ_DC_AUDIT_UPSTREAM] = {"audit-upstream", ONE},
    [DJ_DC_FORWARD_CACHE_ENTRIES] = {"forward-cache-entries", ONE},
    [DJ_DC_FORWARD_TTL_FLOOR] = {"forward-ttl-floor", ONE},
    [DJ_DC_FORWARD_TTL_CEILING] = {"forward-ttl-ceiling", ONE},
    [DJ_DC_FORWARD_RATE] = {"forward-rate", ONE},
    [DJ_DC_FORWARD_BURST] = {"forward-burst", ONE},
    [DJ_DC_CONTAINER_DNS_NAMES] = {"container-dns-names", ONE},
    [DJ_DC_ALLOW_WILDCARD_ALL] = {"allow-wildcard-all", FLAG},
    [DJ_DC_RESOLVER] = {"resolver", LIST},
    [DJ_DC_UPSTREAM_ALLOW] = {"upstream-allow", LIST},
    [DJ_DC_MAX_CONNECTIONS] = {"max-connections", ONE},
};

const char *dj_daemonconf_key_name(enum dj_daemonconf_key key)
{
    return (unsigned)key < DJ_DC_N_KEYS ? keys[key].name : "?";
}

bool dj_daemonconf_key_is_flag(enum dj_daemonconf_key key)
{
    return (unsigned)key < DJ_DC_N_KEYS && keys[key].kind == FLAG;
}

/* ---- writing ----------------------------------------------------------------------------- */

static void append(struct dj_daemonconf *c, const char *s, size_t n)
{
    if (c->failed)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap > 0 ? c->cap : 512;
        char *grown;

        while (c->len + n + 1 > cap)
            cap *= 2;
        grown = realloc(c->text, cap);
        if (grown == NULL) {
            c->failed = true;
            return;
        }
        c->text = grown;
        c->cap = cap;
    }
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len] = '\0';
}

void dj_daemonconf_init(struct dj_daemonconf *c)
{
    char header[64];
    int n = snprintf(header, sizeof(header), DJ_DAEMONCONF_MAGIC " %d\n", DJ_DAEMONCONF_VERSION);

    memset(c, 0, sizeof(*c));
    append(c, header, (size_t)n);
}

void dj_daemonconf_free(struct dj_daemonconf *c)
{
    free(c->text);
    memset(c, 0, sizeof(*c));
}

void dj_daemonconf_flag(struct dj_daemonconf *c, enum dj_daemonconf_key key)
{
    const char *name = dj_daemonconf_key_name(key);

    append(c, name, strlen(name));
    append(c, "\n", 1);
}

void dj_daemonconf_set(struct dj_daemonconf *c, enum dj_daemonconf_key key, const char *value)
{
    const char *name = dj_daemonconf_key_name(key);

    /* A value that would end its line early cannot be written: the parser refuses the rest. */
    if (value == NULL || value[0] == '\0' || strpbrk(value, "\n\r") != NULL) {
        c->failed = true;
        return;
    }
    append(c, name, strlen(name));
    append(c, " ", 1);
    append(c, value, strlen(value));
    append(c, "\n", 1);
}

void dj_daemonconf_set_uint(struct dj_daemonconf *c, enum dj_daemonconf_key key,
                            unsigned long value)
{
    char text[24];

    snprintf(text, sizeof(text), "%lu", value);
    dj_daemonconf_set(c, key, text);
}

static int accept_any(void *ctx, enum dj_daemonconf_key key, const char *value, dj_error_t *err)
{
    (void)ctx;
    (void)key;
    (void)value;
    (void)err;
    return 0;
}

int dj_daemonconf_memfd(const struct dj_daemonconf *c, dj_error_t *err)
{
    cleanup_free char *copy = NULL;
    cleanup_close int fd = -1;

    if (c->failed || c->text == NULL)
        return dj_error_make(err, c->failed ? ENOMEM : 0, "writing the daemon configuration");
    copy = malloc(c->len + 1);
    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "the daemon configuration");
    memcpy(copy, c->text, c->len + 1);
    if (dj_daemonconf_parse(copy, c->len, accept_any, NULL, err) < 0)
        return dj_error_wrap(err, "internal error: the daemon configuration");
    fd = memfd_create("dnsjail-daemon-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return dj_error_make(err, errno, "memfd_create");
    if (write(fd, c->text, c->len) != (ssize_t)c->len)
        return dj_error_make(err, errno, "writing the daemon configuration");
    if (lseek(fd, 0, SEEK_SET) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return dj_error_make(err, errno, "sealing the daemon configuration");
    return steal_fd(&fd);
}

/* ---- reading ----------------------------------------------------------------------------- */

static int find_key(const char *name, size_t len)
{
    for (int k = 0; k < DJ_DC_N_KEYS; k++)
        if (strlen(keys[k].name) == len && memcmp(keys[k].name, name, len) == 0)
            return k;
    return -1;
}

/* The header line, without its '\n'. */
static int check_header(const char *line, dj_error_t *err)
{
    static const char magic[] = DJ_DAEMONCONF_MAGIC " ";
    const char *version = line + strlen(magic);
    char *end;
    long v;

    if (strncmp(line, magic, strlen(magic)) != 0)
        return dj_error_make(err, 0, "the daemon configuration does not start with \"%s N\"",
                             DJ_DAEMONCONF_MAGIC);
    errno = 0;
    v = strtol(version, &end, 10);
    if (version[0] < '0' || version[0] > '9' || *end != '\0' || errno != 0)
        return dj_error_make(err, 0, "the daemon configuration has no version number");
    if (v != DJ_DAEMONCONF_VERSION)
        return dj_error_make(err, 0,
                             "the daemon configuration is version %ld; this daemon reads version "
                             "%d (a hook and daemons from different releases?)",
                             v, DJ_DAEMONCONF_VERSION);
    return 0;
}

/* One "KEY[ VALUE]" line, without its '\n'. SEEN counts each key's lines so far. */
static int parse_line(char *line, unsigned *seen, unsigned line_no, dj_daemonconf_setter *set,
                      void *ctx, dj_error_t *err)
{
    char *blank = strchr(line, ' ');
    size_t name_len = blank != NULL ? (size_t)(blank - line) : strlen(line);
    const char *value = blank != NULL ? blank + 1 : NULL;
    int k = find_key(line, name_len);

    if (name_len == 0)
        return dj_error_make(err, 0, "daemon configuration line %u: no key", line_no);
    if (k < 0)
        return dj_error_make(err, 0, "daemon configuration line %u: unknown key \"%.*s\"", line_no,
                             (int)(name_len > 64 ? 64 : name_len), line);
    if (keys[k].kind == FLAG && value != NULL)
        return dj_error_make(err, 0, "daemon configuration line %u: %s takes no value", line_no,
                             keys[k].name);
    if (keys[k].kind != FLAG && (value == NULL || value[0] == '\0'))
        return dj_error_make(err, 0, "daemon configuration line %u: %s needs a value", line_no,
                             keys[k].name);
    if (keys[k].kind != LIST && seen[k] > 0)
        return dj_error_make(err, 0, "daemon configuration line %u: %s given twice", line_no,
                             keys[k].name);
    seen[k]++;
    if (blank != NULL)
        *blank = '\0';
    return set(ctx, (enum dj_daemonconf_key)k, value, err);
}

int dj_daemonconf_parse(char *text, size_t len, dj_daemonconf_setter *set, void *ctx,
                        dj_error_t *err)
{
    unsigned seen[DJ_DC_N_KEYS] = {0};
    unsigned line_no = 0;
    size_t pos = 0;

    if (len > DJ_DAEMONCONF_MAX_BYTES)
        return dj_error_make(err, 0, "the daemon configuration exceeds %d bytes",
                             DJ_DAEMONCONF_MAX_BYTES);
    if (memchr(text, '\0', len) != NULL || memchr(text, '\r', len) != NULL)
        return dj_error_make(err, 0, "the daemon configuration holds a NUL or CR byte");
    if (len == 0 || text[len - 1] != '\n')
        return dj_error_make(err, 0, "the daemon configuration does not end with a newline");
    while (pos < len) {
        char *line = text + pos;
        char *end = memchr(line, '\n', len - pos);

        *end = '\0';
        pos = (size_t)(end - text) + 1;
        line_no++;
        if (line_no == 1) {
            if (check_header(line, err) < 0)
                return -1;
            continue;
        }
        if (parse_line(line, seen, line_no, set, ctx, err) < 0)
            return -1;
    }
    return 0;
}

int dj_daemonconf_read_fd(int fd, char **text, size_t *len, dj_error_t *err)
{
    if (dj_file_pread_fd(fd, DJ_DAEMONCONF_MAX_BYTES, text, len) == 0)
        return 0;
    if (errno == EFBIG)
        return dj_error_make(err, 0, "--config-fd %d: more than %d bytes", fd,
                             DJ_DAEMONCONF_MAX_BYTES);
    if (errno == ENOMEM)
        return dj_error_make(err, ENOMEM, "--config-fd");
    return dj_error_make(err, errno, "--config-fd %d: read", fd);
}
