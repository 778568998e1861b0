#include "config.h"

/* `dnsjail ps`: the jailed containers on this host, one line per container (containers of a
 * pod share their jail's line of numbers), then the spare pool's idle daemons and the keeper;
 * or one JSON array of the jails with --json (`dnsjail status --json` has the spares and the
 * keeper, so that the array stays what it was: one element per jailed container). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "base/cleanup.h"
#include "cli.h"
#include "jails.h"

static void ps_usage(FILE *out)
{
    fprintf(out, "Usage: " DJ_CLI_PROGRAM " [--config FILE] ps [--json] [-v|--verbose]\n"
                 "\n"
                 "Lists the jailed containers on this host: container id, network namespace key,\n"
                 "mode, number of allow rules (as the jail stores them: a rule without a port\n"
                 "counts twice, for 80 and 443), the daemons' pids (and whether they run),\n"
                 "uptime and the counters of their metrics files; then the spare pool's idle\n"
                 "daemons and the keeper.\n"
                 "\n"
                 "  --json         one JSON array of the jails, every field and every counter\n"
                 "                 (the spares and the keeper: dnsjail status --json)\n"
                 "  -v, --verbose  also print each jail's allow rules\n"
                 "  -h, --help     this text\n");
}

static void format_uptime(time_t created, time_t now, char *out, size_t size)
{
    long long s = created > 0 && now >= created ? (long long)(now - created) : -1;

    if (s < 0)
        snprintf(out, size, "?");
    else if (s < 60)
        snprintf(out, size, "%llds", s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, size, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    else
        snprintf(out, size, "%lldd%02lldh", s / 86400, (s / 3600) % 24);
}

static void format_count(double value, char *out, size_t size)
{
    if (value < 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.0f", value);
}

static void format_pid(const struct dj_jail_daemon *d, char *out, size_t size)
{
    if (d->pid == 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%d%s", (int)d->pid, d->alive ? "" : "(dead)");
}

static void print_table(const struct dj_jail_info *jails, size_t n, bool verbose)
{
    time_t now = time(NULL);

    printf("%-20s %-24s %-8s %5s %-14s %-14s %-9s %8s %8s %8s\n", "CONTAINER", "NETNS", "MODE",
           "RULES", "DNSSTUB", "PROXY", "UPTIME", "QUERIES", "ALLOWED", "DENIED");
    for (size_t i = 0; i < n; i++) {
        const struct dj_jail_info *j = &jails[i];
        char rules[24], stub[24], proxy[24], uptime[24], queries[24], allowed[24], denied[24];
        size_t rows = j->n_members > 0 ? j->n_members : 1;

        if (j->n_rules >= 0)
            snprintf(rules, sizeof(rules), "%ld", j->n_rules);
        else
            snprintf(rules, sizeof(rules), "?");
        format_pid(&j->daemons[0], stub, sizeof(stub));
        format_pid(&j->daemons[1], proxy, sizeof(proxy));
        format_uptime(j->created, now, uptime, sizeof(uptime));
        format_count(dj_jail_metric_sum(j, "dnsjail_dns_queries_total", NULL), queries,
                     sizeof(queries));
        format_count(dj_jail_metric_sum(j, "dnsjail_proxy_decisions_total", "decision=allowed"),
                     allowed, sizeof(allowed));
        format_count(dj_jail_metric_sum(j, "dnsjail_proxy_decisions_total", "decision=denied"),
                     denied, sizeof(denied));
        for (size_t m = 0; m < rows; m++) {
            /* Container ids are 64 hex digits with podman and CRI-O: show them whole, a
             * prefix is ambiguous. */
            printf("%-20s %-24s %-8s %5s %-14s %-14s %-9s %8s %8s %8s\n",
                   j->n_members > 0 ? j->members[m] : "(none)", j->key,
                   j->mode != NULL ? j->mode : "?", rules, stub, proxy, uptime, queries, allowed,
                   denied);
        }
        if (verbose)
            printf("    allow: %s\n", j->rules != NULL && *j->rules != '\0' ? j->rules : "(none)");
        if (j->problem != NULL)
            printf("    problem: %s\n", j->problem);
    }
}

/* yajl refuses invalid UTF-8 (validation is on); every string here was made printable ASCII
 * by jails.c, so a refusal means a bug, reported as such. */
static bool gen_string(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) == yajl_gen_status_ok;
}

static bool gen_key_string(yajl_gen g, const char *key, const char *value)
{
    if (!gen_string(g, key))
        return false;
    return value != NULL ? gen_string(g, value) : yajl_gen_null(g) == yajl_gen_status_ok;
}

static bool gen_number(yajl_gen g, double value)
{
    /* JSON has no Inf or NaN; a counter that is one is not a number we can show. */
    if (value != value || value > 1e308 || value < -1e308)
        return yajl_gen_null(g) == yajl_gen_status_ok;
    if (value >= 0 && value < 9007199254740992.0 && value == (double)(int64_t)value)
        return yajl_gen_integer(g, (long long)value) == yajl_gen_status_ok;
    return yajl_gen_double(g, value) == yajl_gen_status_ok;
}

static bool gen_jail(yajl_gen g, const struct dj_jail_info *j, const char *member, time_t now)
{
    bool ok = yajl_gen_map_open(g) == yajl_gen_status_ok;

    ok = ok && gen_key_string(g, "container", member);
    ok = ok && gen_key_string(g, "netns", j->key);
    ok = ok && gen_string(g, "members") && yajl_gen_array_open(g) == yajl_gen_status_ok;
    for (size_t m = 0; ok && m < j->n_members; m++)
        ok = gen_string(g, j->members[m]);
    ok = ok && yajl_gen_array_close(g) == yajl_gen_status_ok;
    ok = ok && gen_key_string(g, "mode", j->mode);
    ok = ok && gen_string(g, "rules") &&
         (j->n_rules >= 0 ? yajl_gen_integer(g, j->n_rules) : yajl_gen_null(g)) ==
             yajl_gen_status_ok;
    ok = ok && gen_key_string(g, "allow", j->rules);
    ok = ok && gen_string(g, "uptime_seconds") &&
         (j->created > 0 && now >= j->created ? yajl_gen_integer(g, (long long)(now - j->created))
                                              : yajl_gen_null(g)) == yajl_gen_status_ok;
    ok = ok && gen_string(g, "daemons") && yajl_gen_map_open(g) == yajl_gen_status_ok;
    for (size_t d = 0; ok && d < DJ_CLI_DAEMONS; d++) {
        const struct dj_jail_daemon *dm = &j->daemons[d];

        ok = gen_string(g, dj_cli_daemon_names[d]) && yajl_gen_map_open(g) == yajl_gen_status_ok;
        ok = ok && gen_string(g, "pid") &&
             (dm->pid > 0 ? yajl_gen_integer(g, dm->pid) : yajl_gen_null(g)) == yajl_gen_status_ok;
        ok = ok && gen_string(g, "alive") && yajl_gen_bool(g, dm->alive) == yajl_gen_status_ok;
        ok = ok && gen_string(g, "metrics") &&
             yajl_gen_bool(g, dm->have_metrics) == yajl_gen_status_ok;
        ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
    }
    ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
    ok = ok && gen_string(g, "metrics") && yajl_gen_array_open(g) == yajl_gen_status_ok;
    for (size_t m = 0; ok && m < j->n_metrics; m++) {
        ok = yajl_gen_map_open(g) == yajl_gen_status_ok;
        ok = ok && gen_key_string(g, "name", j->metrics[m].name);
        ok = ok && gen_key_string(g, "labels", j->metrics[m].labels);
        ok = ok && gen_string(g, "value") && gen_number(g, j->metrics[m].value);
        ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
    }
    ok = ok && yajl_gen_array_close(g) == yajl_gen_status_ok;
    ok = ok && gen_key_string(g, "problem", j->problem);
    return ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
}

static int print_json(const struct dj_jail_info *jails, size_t n)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    time_t now = time(NULL);
    const unsigned char *buf;
    size_t len;
    bool ok;

    if (g == NULL) {
        fprintf(stderr, DJ_CLI_PROGRAM ": out of memory\n");
        return 1;
    }
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    ok = yajl_gen_array_open(g) == yajl_gen_status_ok;
    for (size_t i = 0; ok && i < n; i++) {
        const struct dj_jail_info *j = &jails[i];

        if (j->n_members == 0)
            ok = gen_jail(g, j, NULL, now);
        for (size_t m = 0; ok && m < j->n_members; m++)
            ok = gen_jail(g, j, j->members[m], now);
    }
    ok = ok && yajl_gen_array_close(g) == yajl_gen_status_ok;
    ok = ok && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok;
    if (ok)
        fwrite(buf, 1, len, stdout);
    yajl_gen_free(g);
    if (!ok) {
        fprintf(stderr, DJ_CLI_PROGRAM " ps: could not write the JSON\n");
        return 1;
    }
    return 0;
}

int dj_cli_ps(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_adminconf *cfg = cli->cfg;
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dj_jail_info *jails = NULL;
    size_t n_jails = 0;
    bool json = false, verbose = false;
    dj_error_t err = NULL;
    int opt, status;

    optind = 0; /* glibc: start over, the global options were parsed with another list */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
        switch (opt) {
        case 'j':
            json = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            ps_usage(stdout);
            return 0;
        default:
            fprintf(stderr, DJ_CLI_PROGRAM " ps: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, DJ_CLI_PROGRAM " ps: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (dj_jails_read(cfg->state_dir, &jails, &n_jails, &err) < 0) {
        fprintf(stderr, DJ_CLI_PROGRAM " ps: %s%s\n", dj_error_msg(&err),
                err != NULL && err->errno_value == EACCES
                    ? " (the state directory is root's: run as root or grant read access)"
                    : "");
        dj_error_release(&err);
        return 1;
    }
    if (json) {
        status = print_json(jails, n_jails);
    } else {
        cleanup_free char *keeper = dj_cli_keeper_describe(cfg);

        print_table(jails, n_jails, verbose);
        dj_cli_spares(cfg, stdout);
        if (keeper != NULL)
            printf("\nkeeper: %s\n", keeper);
        status = 0;
    }
    dj_jails_free(jails, n_jails);
    if (fflush(stdout) != 0) {
        fprintf(stderr, DJ_CLI_PROGRAM " ps: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return status;
}
