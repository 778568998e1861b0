#include "config.h"

/* `dnsjail suggest LOG...`: the smallest io.dnsjail.allow value that would have allowed every
 * connection the logs show (lib/report/suggest), with counts for review. Lines that are not
 * dnsjail's are skipped and counted, never guessed at. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "base/cleanup.h"
#include "cli.h"
#include "report/logline.h"
#include "jail/oci.h"
#include "report/suggest.h"

#define PRINTABLE_SIZE 1024

static void suggest_usage(FILE *out)
{
    fprintf(out,
            "Usage: " DJ_CLI_PROGRAM " suggest [--collapse N] [--container ID] [--json] LOG...\n"
            "\n"
            "Reads dnsjail logs (audit mode's, or an enforce run's denials; '-' is standard\n"
            "input) and prints the smallest io.dnsjail.allow value that would have allowed\n"
            "every HTTP request, TLS connection and TCP connection they show, one rule a line\n"
            "with how many connections and names it covers. Review it before you use it.\n"
            "\n"
            "  --collapse N      turn N or more names below one parent (two labels or more)\n"
            "                    into *.parent; default 0: never. Never into * or *.tld.\n"
            "  --container ID    only this container (an id or the start of one)\n"
            "  --json            one JSON object: the value, the rules, the counts\n"
            "  -h, --help        this text\n");
}

struct totals {
    uint64_t lines, used, skipped, other_containers;
};

static bool container_matches(const char *want, const char *id)
{
    return want == NULL || (id != NULL && strncmp(id, want, strlen(want)) == 0);
}

static int read_log(FILE *in, const char *name, const char *container, struct dj_suggest *s,
                    struct totals *t)
{
    cleanup_free char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, in)) >= 0) {
        struct dj_logline_record rec;
        dj_error_t err = NULL;
        int r;

        t->lines++;
        if (dj_logline_parse(line, (size_t)len, &rec, NULL) < 0) {
            t->skipped++;
            continue;
        }
        if (!container_matches(container, rec.container)) {
            t->other_containers++;
            dj_logline_record_free(&rec);
            continue;
        }
        r = dj_suggest_add_record(s, &rec, &err);
        if (r < 0) {
            char shown[PRINTABLE_SIZE];

            /* A destination that is no valid rule: say so, and go on with the rest. */
            fprintf(stderr, DJ_CLI_PROGRAM " suggest: %s:%" PRIu64 ": %s (%s)\n", name, t->lines,
                    dj_error_msg(&err),
                    oci_printable(shown, sizeof(shown), rec.host ? rec.host : "?"));
            dj_error_release(&err);
            t->skipped++;
        } else if (r == 1) {
            t->used++;
        }
        dj_logline_record_free(&rec);
    }
    if (ferror(in)) {
        fprintf(stderr, DJ_CLI_PROGRAM " suggest: reading %s: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

static int print_json(const struct dj_suggestion *list, size_t n, const char *joined,
                      const struct totals *t)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    size_t len;

    if (g == NULL)
        return -1;
    yajl_gen_config(g, yajl_gen_validate_utf8, 0);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"allow", 5);
    yajl_gen_string(g, (const unsigned char *)joined, strlen(joined));
    yajl_gen_string(g, (const unsigned char *)"rules", 5);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < n; i++) {
        yajl_gen_map_open(g);
        yajl_gen_string(g, (const unsigned char *)"rule", 4);
        yajl_gen_string(g, (const unsigned char *)list[i].rule, strlen(list[i].rule));
        yajl_gen_string(g, (const unsigned char *)"connections", 11);
        yajl_gen_integer(g, (long long)list[i].connections);
        yajl_gen_string(g, (const unsigned char *)"names", 5);
        yajl_gen_integer(g, (long long)list[i].names);
        yajl_gen_string(g, (const unsigned char *)"example", 7);
        yajl_gen_string(g, (const unsigned char *)list[i].example, strlen(list[i].example));
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    yajl_gen_string(g, (const unsigned char *)"lines", 5);
    yajl_gen_integer(g, (long long)t->lines);
    yajl_gen_string(g, (const unsigned char *)"connections", 11);
    yajl_gen_integer(g, (long long)t->used);
    yajl_gen_string(g, (const unsigned char *)"skipped", 7);
    yajl_gen_integer(g, (long long)t->skipped);
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return -1;
    }
    fwrite(buf, 1, len, stdout);
    putchar('\n');
    yajl_gen_free(g);
    return 0;
}

int dj_cli_suggest(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_adminconf *cfg = cli->cfg;
    static const struct option options[] = {
        {"collapse", required_argument, NULL, 'n'},
        {"container", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dj_suggest *s;
    struct dj_suggestion *list = NULL;
    struct totals t = {0, 0, 0, 0};
    const char *container = NULL;
    cleanup_free char *joined = NULL;
    dj_error_t err = NULL;
    unsigned long collapse = 0;
    bool json = false;
    size_t n = 0;
    int opt, status = 0;

    (void)cfg;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end;

        switch (opt) {
        case 'n':
            errno = 0;
            collapse = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '\0' || optarg[0] == '-' ||
                collapse > 1000000) {
                fprintf(stderr, DJ_CLI_PROGRAM " suggest: --collapse: '%s' is not a count\n",
                        optarg);
                return 2;
            }
            break;
        case 'C':
            container = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            suggest_usage(stdout);
            return 0;
        default:
            suggest_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, DJ_CLI_PROGRAM " suggest: name at least one log file ('-': stdin)\n");
        return 2;
    }
    s = dj_suggest_new();
    if (s == NULL)
        return 1;
    for (int i = optind; i < argc; i++) {
        bool is_stdin = strcmp(argv[i], "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(argv[i], "re");

        if (in == NULL) {
            fprintf(stderr, DJ_CLI_PROGRAM " suggest: %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        if (read_log(in, argv[i], container, s, &t) < 0)
            status = 1;
        if (!is_stdin)
            fclose(in);
    }
    if (dj_suggest_compute(s, (unsigned)collapse, &list, &n, &err) < 0 ||
        (joined = dj_suggestions_join(list, n)) == NULL) {
        fprintf(stderr, DJ_CLI_PROGRAM " suggest: %s\n",
                err != NULL ? dj_error_msg(&err) : "out of memory");
        dj_error_release(&err);
        dj_suggest_free(s);
        dj_suggestions_free(list, n);
        return 1;
    }
    if (json) {
        if (print_json(list, n, joined, &t) < 0)
            status = 1;
    } else {
        printf("# %zu rule%s from %" PRIu64 " connection%s in %" PRIu64 " line%s (%" PRIu64
               " skipped)\n",
               n, n == 1 ? "" : "s", t.used, t.used == 1 ? "" : "s", t.lines,
               t.lines == 1 ? "" : "s", t.skipped);
        if (n > 0)
            printf("# %-40s %11s %6s  %s\n", "rule", "connections", "names", "example");
        for (size_t i = 0; i < n; i++)
            printf("# %-40s %11" PRIu64 " %6zu  %s\n", list[i].rule, list[i].connections,
                   list[i].names, list[i].example);
        if (n > 0)
            printf("io.dnsjail.allow=%s\n", joined);
    }
    dj_suggestions_free(list, n);
    dj_suggest_free(s);
    return status;
}
