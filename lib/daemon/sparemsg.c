#include "config.h"
#include "daemon/sparemsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *const dj_sparemsg_fd_options[] = {
    "--inherit-udp",     "--inherit-tcp", "--inherit-http",     "--inherit-tls",
    "--inherit-virtual", "--watch-pidfd", "--control-fd",       "--log-fd",
    "--system-log-fd",   "--ready-fd",    "--metrics-fd",       "--policy-fd",
    "--virtual-map-fd",  "--config-fd",   "--container-dns-fd", NULL,
};

#define HELLO_HEAD "dnsjail-spare "
#define ASSIGN_HEAD "dnsjail-assign "
#define RETIRE_HEAD "dnsjail-retire "

/* A message read line by line: each line ends with a newline, and none holds a NUL. */
struct lines {
    const char *p, *end;
};

/* The next line (without its newline) in *LINE and *LEN; 0 at the end, -1 when the rest is
 * not a line. */
static int next_line(struct lines *l, const char **line, size_t *len)
{
    const char *nl;

    if (l->p == l->end)
        return 0;
    nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    if (nl == NULL || memchr(l->p, '\0', (size_t)(nl - l->p)) != NULL)
        return -1;
    *line = l->p;
    *len = (size_t)(nl - l->p);
    l->p = nl + 1;
    return 1;
}

/* LINE is PREFIX followed by the rest, which goes to *REST. */
static bool take_prefix(const char *line, size_t len, const char *prefix, const char **rest,
                        size_t *rest_len)
{
    size_t n = strlen(prefix);

    if (len < n || memcmp(line, prefix, n) != 0)
        return false;
    *rest = line + n;
    *rest_len = len - n;
    return true;
}

/* A decimal number without sign, leading zeros or blanks, at most MAX. */
static int parse_number(const char *text, size_t len, uint64_t max, uint64_t *value)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && text[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v > max)
        return -1;
    *value = v;
    return 0;
}

/* The version line: HEAD then exactly our version. */
static int version_line(struct lines *l, const char *head, dj_error_t *err)
{
    const char *line, *rest;
    size_t len, rest_len;
    uint64_t version;

    if (next_line(l, &line, &len) != 1 || !take_prefix(line, len, head, &rest, &rest_len) ||
        parse_number(rest, rest_len, UINT32_MAX, &version) < 0)
        return dj_error_make(err, EPROTO, "spare message: no '%s' version line", head);
    if (version != DJ_SPAREMSG_VERSION)
        return dj_error_make(err, EPROTO, "spare message: version %" PRIu64 ", we speak %d",
                             version, DJ_SPAREMSG_VERSION);
    return 0;
}

/* A container id or program name: printable, no blank, 1..MAX bytes. */
static bool is_word(const char *text, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f)
            return false;
    return true;
}

static int appended(int n, size_t size)
{
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int dj_sparemsg_format_hello(const struct dj_sparemsg_hello *h, char *buf, size_t size)
{
    return appended(snprintf(buf, size,
                             HELLO_HEAD "%d\nprogram %s\nexe %" PRIu64 " %" PRIu64 "\nids %" PRIu64
                                        " %" PRIu64 "\nnofile %" PRIu64 "\n",
                             DJ_SPAREMSG_VERSION, h->program, h->exe_dev, h->exe_ino, h->uid,
                             h->gid, h->nofile),
                    size);
}

/* "PREFIX A B", two numbers. */
static int number_pair(const char *line, size_t len, const char *prefix, uint64_t *a, uint64_t *b)
{
    const char *rest, *blank;
    size_t rest_len;

    if (!take_prefix(line, len, prefix, &rest, &rest_len) ||
        (blank = memchr(rest, ' ', rest_len)) == NULL ||
        parse_number(rest, (size_t)(blank - rest), UINT64_MAX, a) < 0 ||
        parse_number(blank + 1, rest_len - (size_t)(blank - rest) - 1, UINT64_MAX, b) < 0)
        return -1;
    return 0;
}

int dj_sparemsg_parse_hello(const char *msg, size_t len, struct dj_sparemsg_hello *h,
                            dj_error_t *err)
{
    struct lines l = {msg, msg + len};
    const char *line, *rest;
    size_t line_len, rest_len;

    memset(h, 0, sizeof(*h));
    if (version_line(&l, HELLO_HEAD, err) < 0)
        return -1;
    if (next_line(&l, &line, &line_len) != 1 ||
        !take_prefix(line, line_len, "program ", &rest, &rest_len) ||
        !is_word(rest, rest_len, sizeof(h->program) - 1))
        return dj_error_make(err, EPROTO, "spare hello: no program line");
    memcpy(h->program, rest, rest_len);
    if (next_line(&l, &line, &line_len) != 1 ||
        number_pair(line, line_len, "exe ", &h->exe_dev, &h->exe_ino) < 0)
        return dj_error_make(err, EPROTO, "spare hello: no exe line");
    if (next_line(&l, &line, &line_len) != 1 ||
        number_pair(line, line_len, "ids ", &h->uid, &h->gid) < 0)
        return dj_error_make(err, EPROTO, "spare hello: no ids line");
    if (next_line(&l, &line, &line_len) != 1 ||
        !take_prefix(line, line_len, "nofile ", &rest, &rest_len) ||
        parse_number(rest, rest_len, UINT64_MAX, &h->nofile) < 0)
        return dj_error_make(err, EPROTO, "spare hello: no nofile line");
    if (l.p != l.end)
        return dj_error_make(err, EPROTO, "spare hello: trailing data");
    return 0;
}

/* The entry of dj_sparemsg_fd_options that NAME (LEN bytes) is, or NULL. */
static const char *fd_option(const char *name, size_t len)
{
    for (const char *const *o = dj_sparemsg_fd_options; *o != NULL; o++)
        if (strlen(*o) == len && memcmp(*o, name, len) == 0)
            return *o;
    return NULL;
}

int dj_sparemsg_format_assign(const struct dj_sparemsg_assign *a, char *buf, size_t size,
                              dj_error_t *err)
{
    size_t id_len = strlen(a->container_id);
    size_t used;
    int n;

    if (!is_word(a->container_id, id_len, DJ_SPAREMSG_MAX_ID))
        return dj_error_make(err, EINVAL, "a spare takes no container id like '%s'",
                             a->container_id);
    n = appended(snprintf(buf, size, ASSIGN_HEAD "%d\ncontainer-id %s\n", DJ_SPAREMSG_VERSION,
                          a->container_id),
                 size);
    if (n < 0)
        return dj_error_make(err, ENOBUFS, "spare assignment");
    used = (size_t)n;
    for (size_t i = 0; i < a->n_fds; i++) {
        if (fd_option(a->fds[i].option, strlen(a->fds[i].option)) == NULL)
            return dj_error_make(err, EINVAL, "a spare takes no option %s", a->fds[i].option);
        n = appended(
            snprintf(buf + used, size - used, "%s %u\n", a->fds[i].option, a->fds[i].index),
            size - used);
        if (n < 0)
            return dj_error_make(err, ENOBUFS, "spare assignment");
        used += (size_t)n;
    }
    return (int)used;
}

int dj_sparemsg_format_retire(char *buf, size_t size)
{
    return appended(snprintf(buf, size, RETIRE_HEAD "%d\n", DJ_SPAREMSG_VERSION), size);
}

static int parse_assign(struct lines *l, size_t n_fds, struct dj_sparemsg_assign *a,
                        dj_error_t *err)
{
    bool used[DJ_SPAREMSG_MAX_FDS] = {false};
    bool ready = false;
    const char *line, *rest, *blank;
    size_t len, rest_len;
    uint64_t index;
    int r;

    if (next_line(l, &line, &len) != 1 ||
        !take_prefix(line, len, "container-id ", &rest, &rest_len) ||
        !is_word(rest, rest_len, DJ_SPAREMSG_MAX_ID))
        return dj_error_make(err, EPROTO, "spare assignment: no container-id line");
    memcpy(a->container_id, rest, rest_len);
    a->container_id[rest_len] = '\0';
    while ((r = next_line(l, &line, &len)) == 1) {
        const char *option;

        blank = memchr(line, ' ', len);
        if (blank == NULL || (option = fd_option(line, (size_t)(blank - line))) == NULL)
            return dj_error_make(err, EPROTO, "spare assignment: not a descriptor option line");
        if (parse_number(blank + 1, len - (size_t)(blank - line) - 1, DJ_SPAREMSG_MAX_FDS - 1,
                         &index) < 0 ||
            index >= n_fds || used[index])
            return dj_error_make(err, EPROTO, "spare assignment: %s names no descriptor of its own",
                                 option);
        used[index] = true;
        if (strcmp(option, "--ready-fd") == 0) {
            if (ready)
                return dj_error_make(err, EPROTO, "spare assignment: two --ready-fd");
            ready = true;
        }
        a->fds[a->n_fds].option = option;
        a->fds[a->n_fds].index = (unsigned)index;
        a->n_fds++;
    }
    if (r < 0)
        return dj_error_make(err, EPROTO, "spare assignment: not lines");
    if (a->n_fds != n_fds)
        return dj_error_make(err, EPROTO, "spare assignment: %zu descriptors, %zu named", n_fds,
                             a->n_fds);
    if (!ready)
        return dj_error_make(err, EPROTO, "spare assignment: no --ready-fd");
    return 0;
}

int dj_sparemsg_parse_command(const char *msg, size_t len, size_t n_fds,
                              enum dj_sparemsg_kind *kind, struct dj_sparemsg_assign *a,
                              dj_error_t *err)
{
    struct lines l = {msg, msg + len};

    memset(a, 0, sizeof(*a));
    if (n_fds > DJ_SPAREMSG_MAX_FDS)
        return dj_error_make(err, EPROTO, "spare message: %zu descriptors", n_fds);
    if (len >= strlen(RETIRE_HEAD) && memcmp(msg, RETIRE_HEAD, strlen(RETIRE_HEAD)) == 0) {
        *kind = DJ_SPAREMSG_RETIRE;
        if (version_line(&l, RETIRE_HEAD, err) < 0)
            return -1;
        if (l.p != l.end || n_fds != 0)
            return dj_error_make(err, EPROTO, "spare retirement: trailing data");
        return 0;
    }
    *kind = DJ_SPAREMSG_ASSIGN;
    if (version_line(&l, ASSIGN_HEAD, err) < 0)
        return -1;
    return parse_assign(&l, n_fds, a, err);
}
