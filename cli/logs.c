#include "config.h"

/* `dnsjail logs [-f] ID`: the decisions for one container from the JSON log (log-file of the
 * admin config), readable by default, the lines themselves with --json. A container that
 * joined a running jail shares its daemons, whose lines carry the id of the container that
 * started them: every member of the jail counts as the container. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jails.h"
#include "logline.h"

#define FOLLOW_POLL_NS 250000000L

struct reader {
    int fd;
    char *buf; /* DJ_LOGLINE_MAX + 1 */
    size_t len;
    bool skipping; /* inside a line longer than DJ_LOGLINE_MAX: drop it up to its newline */
};

struct filter {
    char **ids;
    size_t n_ids;
    bool json;
};

static void logs_usage(FILE *out)
{
    fprintf(out, "Usage: " DJ_CLI_PROGRAM " [--config FILE] logs [-f|--follow] [--json] ID\n"
                 "\n"
                 "Shows the log lines of container ID (and of the containers sharing its jail)\n"
                 "from the admin configuration's log-file: DNS queries with their answers,\n"
                 "HTTP requests and TLS connections with the proxy's decision.\n"
                 "\n"
                 "  -f, --follow  keep reading as lines are added (across rotation)\n"
                 "  --json        the log lines themselves, one JSON object per line\n"
                 "  -h, --help    this text\n");
}

static bool wanted(const struct filter *f, const struct dj_log_line *l)
{
    for (size_t i = 0; i < f->n_ids; i++)
        if (strcmp(l->container, f->ids[i]) == 0)
            return true;
    return false;
}

static void print_readable(const struct dj_log_line *l)
{
    char what[8 * DJ_LOGLINE_FIELD];

    if (strcmp(l->event, "dns_query") == 0)
        snprintf(what, sizeof(what), "%s %s %s -> %s (%s)", l->proto, l->qtype, l->qname,
                 l->answer[0] != '\0' ? l->answer : "no address", l->rcode);
    else if (strcmp(l->event, "dns_malformed") == 0)
        snprintf(what, sizeof(what), "%s %s: %s", l->proto, l->qname[0] ? l->qname : "-",
                 l->reason);
    else if (strcmp(l->event, "http_request") == 0)
        snprintf(what, sizeof(what), "%s http://%s:%llu%s -> %s%s%s%s",
                 l->method[0] ? l->method : "-", l->host[0] ? l->host : "?",
                 (unsigned long long)l->port, l->path, l->decision[0] ? l->decision : "?",
                 l->reason[0] ? " (" : "", l->reason, l->reason[0] ? ")" : "");
    else if (strcmp(l->event, "tls_connection") == 0)
        snprintf(what, sizeof(what), "tls %s:%llu -> %s%s%s%s", l->host[0] ? l->host : "?",
                 (unsigned long long)l->port, l->decision[0] ? l->decision : "?",
                 l->reason[0] ? " (" : "", l->reason, l->reason[0] ? ")" : "");
    else
        snprintf(what, sizeof(what), "%s%s%s", l->detail, l->reason[0] ? " " : "", l->reason);
    printf("%s %-14s %s\n", l->time[0] ? l->time : "-", l->event[0] ? l->event : "-", what);
}

/* Only lines of printable ASCII and UTF-8 go out raw: a raw control byte would reach the
 * terminal (JSON writes them escaped, so a line with one is not ours). */
static bool raw_printable(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            return false;
    return true;
}

static void handle_line(const struct filter *f, const char *line, size_t len)
{
    struct dj_log_line l;

    if (!dj_log_line_parse(line, len, &l) || !wanted(f, &l))
        return;
    if (!f->json) {
        print_readable(&l);
    } else if (raw_printable(line, len)) {
        fwrite(line, 1, len, stdout);
        putchar('\n');
    }
}

/* Reads what is there and handles every complete line. Returns false at an error. */
static bool drain(struct reader *r, const struct filter *f)
{
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, DJ_LOGLINE_MAX + 1 - r->len);
        size_t start = 0;
        char *nl;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            return true;
        r->len += (size_t)n;
        while ((nl = memchr(r->buf + start, '\n', r->len - start)) != NULL) {
            size_t line_len = (size_t)(nl - (r->buf + start));

            if (!r->skipping)
                handle_line(f, r->buf + start, line_len);
            r->skipping = false;
            start += line_len + 1;
        }
        memmove(r->buf, r->buf + start, r->len - start);
        r->len -= start;
        if (r->len > DJ_LOGLINE_MAX) { /* no newline in sight: not a line of ours */
            r->skipping = true;
            r->len = 0;
        }
        fflush(stdout);
    }
}

static int follow(struct reader *r, const struct filter *f, const char *path)
{
    struct timespec pause = {0, FOLLOW_POLL_NS};

    for (;;) {
        struct stat now, open_st;
        off_t at;

        if (!drain(r, f))
            return 1;
        nanosleep(&pause, NULL);
        if (fstat(r->fd, &open_st) < 0)
            return 1;
        at = lseek(r->fd, 0, SEEK_CUR);
        if (open_st.st_size < at) { /* truncated in place: start over */
            lseek(r->fd, 0, SEEK_SET);
            r->len = 0;
            r->skipping = false;
        }
        if (stat(path, &now) == 0 &&
            (now.st_ino != open_st.st_ino || now.st_dev != open_st.st_dev)) {
            /* Rotated: finish the old file, then go on with the new one from its start. */
            int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

            if (fd >= 0) {
                if (!drain(r, f))
                    return 1;
                close(r->fd);
                r->fd = fd;
                r->len = 0;
                r->skipping = false;
            }
        }
    }
}

int dj_cli_logs(const struct dj_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dj_jail_info *jails = NULL;
    size_t n_jails = 0;
    struct filter f = {NULL, 0, false};
    struct reader r = {-1, NULL, 0, false};
    char *only[1];
    bool keep_following = false;
    dj_error_t err = NULL;
    struct stat st;
    int opt, status = 0;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            keep_following = true;
            break;
        case 'j':
            f.json = true;
            break;
        case 'h':
            logs_usage(stdout);
            return 0;
        default:
            fprintf(stderr, DJ_CLI_PROGRAM " logs: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        logs_usage(stderr);
        return 2;
    }
    only[0] = argv[optind];
    f.ids = only;
    f.n_ids = 1;
    /* The jail's members, when the state says; a container that is gone is just its id. */
    if (dj_jails_read(cli->cfg->state_dir, &jails, &n_jails, &err) < 0)
        dj_error_release(&err);
    for (size_t i = 0; i < n_jails && f.ids == only; i++)
        for (size_t m = 0; m < jails[i].n_members; m++)
            if (strcmp(jails[i].members[m], argv[optind]) == 0) {
                f.ids = jails[i].members;
                f.n_ids = jails[i].n_members;
                break;
            }

    r.fd = open(cli->cfg->log_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    r.buf = malloc(DJ_LOGLINE_MAX + 1);
    if (r.fd < 0 || r.buf == NULL || fstat(r.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, DJ_CLI_PROGRAM " logs: %s: %s\n", cli->cfg->log_file,
                r.fd < 0 ? strerror(errno) : "not a regular file");
        status = 1;
    } else if (keep_following) {
        status = follow(&r, &f, cli->cfg->log_file);
    } else if (!drain(&r, &f)) {
        fprintf(stderr, DJ_CLI_PROGRAM " logs: reading %s: %s\n", cli->cfg->log_file,
                strerror(errno));
        status = 1;
    }
    if (r.fd >= 0)
        close(r.fd);
    free(r.buf);
    dj_jails_free(jails, n_jails);
    return status;
}
