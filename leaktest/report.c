/* report.c: `dnsjail-leaktest report`: the final verdict of a probe run.
 *
 * Reads the probe's lines (standard input or --input) and the canary's state file, and turns
 * every "pending" into "blocked" or "leaked": leaked when the canary recorded the channel's
 * token anywhere, blocked otherwise. A line it cannot read fails the whole report (a verdict
 * built on half the input would say "blocked" for channels it never saw). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/cleanup.h"
#include "report/leak.h"
#include "leaktest.h"

#define MAX_STATE (256u << 20)
#define MAX_LINE 4096

static const char limit_text[] = "documented limit: TLS hides the Host inside an allowed SNI";

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void report_usage(FILE *out)
{
    fputs("usage: dnsjail-leaktest report --state CANARY-STATE [--input PROBE-OUTPUT] [--json]\n"
          "exit: 0 nothing leaked, 1 something leaked, 2 usage, 3 unreadable input\n",
          out);
}

int lt_report_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"input", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state_path = NULL, *input_path = NULL;
    bool json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            state_path = optarg;
            break;
        case 'i':
            input_path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            report_usage(stdout);
            return LT_EXIT_OK;
        default:
            report_usage(stderr);
            return LT_EXIT_USAGE;
        }
    }
    if (optind != argc || state_path == NULL) {
        report_usage(stderr);
        return LT_EXIT_USAGE;
    }
    size_t state_len = 0;
    cleanup_free char *state = NULL;
    cleanup_close int state_fd = open(state_path, O_RDONLY | O_CLOEXEC);
    if (state_fd < 0 || dj_file_read_fd(state_fd, MAX_STATE, &state, &state_len) < 0) {
        fprintf(stderr, "report: %s: %s\n", state_path, strerror(errno));
        return LT_EXIT_ERROR;
    }
    cleanup_fclose FILE *in_file = input_path != NULL ? fopen(input_path, "re") : NULL;
    FILE *in = input_path != NULL ? in_file : stdin;
    if (in == NULL) {
        fprintf(stderr, "report: %s: %s\n", input_path, strerror(errno));
        return LT_EXIT_ERROR;
    }

    char line[MAX_LINE];
    unsigned line_no = 0, channels = 0;
    bool leaked = false;
    if (json)
        printf("{\"channels\":[");
    while (fgets(line, sizeof(line), in) != NULL) {
        line_no++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "report: line %u: too long\n", line_no);
            return LT_EXIT_ERROR;
        }
        struct dj_leak_line pl;
        const char *bad = dj_leak_parse_line(line, len, &pl);
        if (bad != NULL ||
            (!pl.is_comment && pl.verdict != DJ_LEAK_NOT_TESTABLE && !pl.has_token)) {
            fprintf(stderr, "report: line %u: %s\n", line_no, bad ? bad : "no token");
            return LT_EXIT_ERROR;
        }
        if (pl.is_comment)
            continue;
        enum dj_leak_verdict v = pl.verdict;
        const char *why = pl.detail;
        char text[DJ_LEAK_MAX_DETAIL + 128];
        bool limit = strncmp(pl.channel, DJ_LEAK_LIMIT_PREFIX, strlen(DJ_LEAK_LIMIT_PREFIX)) == 0;
        if (v != DJ_LEAK_NOT_TESTABLE) {
            bool seen = dj_leak_text_has_token(state, state_len, pl.token);
            v = (seen || v == DJ_LEAK_LEAKED) ? DJ_LEAK_LEAKED : DJ_LEAK_BLOCKED;
            snprintf(text, sizeof(text), "%s%s%s", limit && v == DJ_LEAK_LEAKED ? limit_text : "",
                     limit && v == DJ_LEAK_LEAKED ? "; " : "",
                     seen ? "the canary saw the token" : pl.detail);
            why = text;
            if (v == DJ_LEAK_LEAKED && !limit)
                leaked = true;
        }
        if (json) {
            printf("%s{\"channel\":\"%s\",\"verdict\":\"%s\",\"limit\":%s,\"detail\":",
                   channels ? "," : "", pl.channel, dj_leak_verdict_text(v),
                   limit ? "true" : "false");
            json_string(stdout, why);
            putchar('}');
        } else {
            printf("%-22s %s (%s)\n", pl.channel, dj_leak_verdict_text(v), why);
        }
        channels++;
    }
    if (json)
        printf("],\"leaked\":%s}\n", leaked ? "true" : "false");
    if (channels == 0) {
        fprintf(stderr, "report: no probe lines in the input\n");
        return LT_EXIT_ERROR;
    }
    return leaked ? LT_EXIT_LEAKED : LT_EXIT_OK;
}
