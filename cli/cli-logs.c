#include "config.h"

/* `dnsjail logs [-f] ID`: the decisions for one container, from the log file the admin
 * config names. Everything printed from the log is made printable first: the names in it were
 * chosen by the container, and raw control bytes must not reach a terminal. */

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli.h"
#include "report/logline.h"
#include "jail/oci.h"

#define PRINTABLE_SIZE 600
#define FOLLOW_POLL_MS 200

static void logs_usage(FILE *out)
{
    fprintf(out, "Usage: " DJ_CLI_PROGRAM " [--config FILE] logs [-f] [--json] [--log FILE] ID\n"
                 "\n"
                 "Prints the decisions dnsjail made for container ID (an id or the start of\n"
                 "one): DNS queries and their answers, HTTP requests, TLS and TCP connections\n"
                 "allowed or denied and why, and the jail's own events.\n"
                 "\n"
                 "  -f, --follow   keep reading as lines are appended (the file may be rotated)\n"
                 "  --json         the log's own JSON lines, unchanged\n"
                 "  --log FILE     read FILE instead of the configuration's log-file\n"
                 "  -h, --help     this text\n");
}

static const char *show(char *buf, const char *s)
{
    return s == NULL ? "-" : oci_printable(buf, PRINTABLE_SIZE, s);
}

/* Audit mode's lines say what enforce mode would have done. */
static const char *would_block_note(const struct dj_logline_record *r)
{
    return r->would_block == 1 ? " [would block]" : "";
}

/* One readable line: time of day, what, and the decision. */
static void print_record(const struct dj_logline_record *r)
{
    char a[PRINTABLE_SIZE], b[PRINTABLE_SIZE], c[PRINTABLE_SIZE], d[PRINTABLE_SIZE];
    char e[PRINTABLE_SIZE], f[PRINTABLE_SIZE];
    const char *t = r->time != NULL && strlen(r->time) >= 23 ? r->time + 11 : show(f, r->time);
    char when[16];

    snprintf(when, sizeof(when), "%.12s", t);
    if (strcmp(r->event, "dns_query") == 0) {
        printf("%-12s  dns    %s %s -> %s (%s%s%s%s)%s\n", when, show(a, r->qname),
               show(b, r->qtype), r->answer != NULL ? show(c, r->answer) : "no address",
               show(d, r->rcode), r->outcome != NULL ? ", " : "",
               r->outcome != NULL ? show(e, r->outcome) : "",
               r->container_dns ? ", container DNS" : "", would_block_note(r));
    } else if (strcmp(r->event, "http_request") == 0) {
        printf("%-12s  http   %s http://%s:%lld%s -> %s%s%s%s%s\n", when, show(a, r->method),
               show(b, r->host), (long long)r->port, r->path != NULL ? show(c, r->path) : "",
               show(d, r->decision), r->reason != NULL ? " (" : "",
               r->reason != NULL ? show(e, r->reason) : "", r->reason != NULL ? ")" : "",
               would_block_note(r));
    } else if (strcmp(r->event, "tls_connection") == 0 || strcmp(r->event, "tcp_connection") == 0 ||
               strcmp(r->event, "virtual_connection") == 0) {
        printf("%-12s  %s  %s:%lld -> %s%s%s%s%s\n", when, r->event[1] == 'l' ? "tls  " : "tcp  ",
               show(a, r->host != NULL ? r->host : r->dest), (long long)r->port,
               show(b, r->decision), r->reason != NULL ? " (" : "",
               r->reason != NULL ? show(c, r->reason) : "", r->reason != NULL ? ")" : "",
               would_block_note(r));
    } else {
        printf("%-12s  %-5s  %s\n", when, show(a, r->event), r->reason ? show(b, r->reason) : "");
    }
}

struct reader {
    const char *container;
    bool json;
    char *line;
    size_t cap;
    unsigned long long bad;
};

/* Reads what IN has now; returns at EOF. */
static void drain(struct reader *rd, FILE *in)
{
    ssize_t len;

    while ((len = getline(&rd->line, &rd->cap, in)) >= 0) {
        struct dj_logline_record rec;

        if (len == 0 || rd->line[len - 1] != '\n') {
            /* A line still being written (or cut): read it again when it is complete. */
            fseeko(in, -(off_t)len, SEEK_CUR);
            break;
        }
        if (dj_logline_parse(rd->line, (size_t)len, &rec, NULL) < 0) {
            rd->bad++;
            continue;
        }
        if (rec.container != NULL &&
            strncmp(rec.container, rd->container, strlen(rd->container)) == 0) {
            if (rd->json)
                fwrite(rd->line, 1, (size_t)len, stdout);
            else
                print_record(&rec);
        }
        dj_logline_record_free(&rec);
    }
    clearerr(in);
    fflush(stdout);
}

int dj_cli_logs(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_adminconf *cfg = cli->cfg;
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"log", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct reader rd = {NULL, false, NULL, 0, 0};
    const char *path = cfg->log_file;
    bool follow = false;
    struct stat st;
    FILE *in;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            follow = true;
            break;
        case 'j':
            rd.json = true;
            break;
        case 'l':
            path = optarg;
            break;
        case 'h':
            logs_usage(stdout);
            return 0;
        default:
            logs_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || argv[optind][0] == '\0') {
        fprintf(stderr, DJ_CLI_PROGRAM " logs: name one container id (see --help)\n");
        return 2;
    }
    rd.container = argv[optind];
    in = fopen(path, "re");
    if (in == NULL) {
        fprintf(stderr, DJ_CLI_PROGRAM " logs: %s: %s\n", path, strerror(errno));
        return 1;
    }
    drain(&rd, in);
    while (follow) {
        struct stat now;
        struct timespec pause = {0, FOLLOW_POLL_MS * 1000000L};

        nanosleep(&pause, NULL);
        if (fstat(fileno(in), &st) < 0)
            break;
        /* Rotated (another file at the path) or truncated: start again from the top. */
        if (stat(path, &now) == 0 && (now.st_ino != st.st_ino || now.st_dev != st.st_dev)) {
            FILE *next = fopen(path, "re");

            if (next != NULL) {
                drain(&rd, in);
                fclose(in);
                in = next;
            }
        } else if (st.st_size < ftello(in)) {
            rewind(in);
        }
        drain(&rd, in);
    }
    fclose(in);
    free(rd.line);
    if (rd.bad > 0)
        fprintf(stderr, DJ_CLI_PROGRAM " logs: %llu lines were not dnsjail's and were skipped\n",
                rd.bad);
    return 0;
}
