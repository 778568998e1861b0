/* dj-nft-tool: runs one lib/jail/nft.c function in the current network namespace, so the shell
 * tests can drive it with `ip netns exec`. Exit status 0 on success, 1 on failure, 2 on
 * misuse; `exists` prints yes or no, `ensure` created or kept. */
#include "config.h"

#include "base/error.h"
#include "jail/nft.h"
#include "jail/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: dj-nft-tool install|ensure DNS_PORT [HTTP_PORT TLS_PORT] [--allow RULES]\n"
                 "                 [--container-dns ADDR] [--container-net ADDR/PREFIX]\n"
                 "                 [--gateway ADDR]\n"
                 "       dj-nft-tool exists\n"
                 "       dj-nft-tool remove\n"
                 "A port of 0 leaves that proxy redirect out. The address rules in RULES\n"
                 "(io.dnsjail.allow syntax) are let through directly; --container-dns,\n"
                 "--container-net and --gateway (IPv4, one each) as the hook's\n"
                 "container-dns and allow-container-networks.\n");
}

static bool parse_port(const char *text, bool zero_allowed, uint16_t *port)
{
    char *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > 65535 ||
        (value == 0 && !zero_allowed)) {
        fprintf(stderr, "dj-nft-tool: bad port \"%s\"\n", text);
        return false;
    }
    *port = (uint16_t)value;
    return true;
}

/* ADDR or ADDR/PREFIX (IPv4) into *NET; false when it is neither. */
static bool parse_net4(const char *text, struct dj_nft_network *net)
{
    char copy[32];
    char *slash;
    unsigned long prefix = 32;

    if (strlen(text) >= sizeof(copy))
        return false;
    strcpy(copy, text);
    slash = strchr(copy, '/');
    if (slash != NULL) {
        *slash = '\0';
        prefix = strtoul(slash + 1, NULL, 10);
        if (prefix > 32)
            return false;
    }
    net->family = AF_INET;
    net->prefix = (uint8_t)prefix;
    return inet_pton(AF_INET, copy, net->addr) == 1;
}

/* Takes the trailing --container-dns, --container-net and --gateway options off ARGV. */
static int take_container_options(int *argc, char **argv, struct dj_nft_spec *spec,
                                  struct dj_nft_network nets[3])
{
    while (*argc >= 5) {
        const char *option = argv[*argc - 2], *value = argv[*argc - 1];

        if (strcmp(option, "--container-dns") == 0 && parse_net4(value, &nets[0])) {
            spec->cdns = &nets[0];
        } else if (strcmp(option, "--container-net") == 0 && parse_net4(value, &nets[1])) {
            spec->container_networks = &nets[1];
            spec->n_container_networks = 1;
        } else if (strcmp(option, "--gateway") == 0 && parse_net4(value, &nets[2])) {
            spec->gateways = &nets[2];
            spec->n_gateways = 1;
        } else {
            return strncmp(option, "--c", 3) == 0 || strcmp(option, "--gateway") == 0 ? -1 : 0;
        }
        *argc -= 2;
    }
    return 0;
}

/* "install" replaces a table that is there; "ensure" keeps it and prints whether it created. */
static int run_install(int argc, char **argv, bool keep, dj_error_t *err)
{
    struct dj_nft_spec spec = {0};
    struct dj_allow_rule *rules = NULL;
    struct dj_nft_network *networks = NULL;
    struct dj_nft_network container_nets[3];
    size_t n_rules = 0;
    int r;

    memset(container_nets, 0, sizeof(container_nets));
    if (take_container_options(&argc, argv, &spec, container_nets) < 0) {
        usage(stderr);
        return 2;
    }
    if (argc >= 5 && strcmp(argv[argc - 2], "--allow") == 0) {
        if (dj_allow_parse(argv[argc - 1], true, &rules, &n_rules, err) < 0 ||
            dj_nft_networks_from_rules(rules, n_rules, &networks, &spec.n_networks, err) < 0) {
            dj_allow_free(rules, n_rules);
            return 1;
        }
        spec.networks = networks;
        argc -= 2;
    }
    if (argc != 3 && argc != 5) {
        usage(stderr);
        return 2;
    }
    if (!parse_port(argv[2], false, &spec.dns_port) ||
        (argc == 5 && (!parse_port(argv[3], true, &spec.http_port) ||
                       !parse_port(argv[4], true, &spec.tls_port)))) {
        free(networks);
        dj_allow_free(rules, n_rules);
        return 2;
    }
    if (keep) {
        bool installed = false;

        r = dj_nft_ensure(&spec, &installed, err) < 0 ? 1 : 0;
        if (r == 0)
            puts(installed ? "created" : "kept");
    } else {
        r = dj_nft_install(&spec, err) < 0 ? 1 : 0;
    }
    free(networks);
    dj_allow_free(rules, n_rules);
    return r;
}

static int run_exists(dj_error_t *err)
{
    bool exists;

    if (dj_nft_table_exists(&exists, err) < 0)
        return 1;
    puts(exists ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv)
{
    dj_error_t err = NULL;
    int status;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "install") == 0 || strcmp(argv[1], "ensure") == 0) {
        status = run_install(argc, argv, strcmp(argv[1], "ensure") == 0, &err);
    } else if (strcmp(argv[1], "exists") == 0 && argc == 2) {
        status = run_exists(&err);
    } else if (strcmp(argv[1], "remove") == 0 && argc == 2) {
        status = dj_nft_remove(&err) < 0 ? 1 : 0;
    } else if (strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    } else {
        usage(stderr);
        return 2;
    }
    if (status == 1)
        fprintf(stderr, "dj-nft-tool: %s\n", dj_error_msg(&err));
    dj_error_release(&err);
    return status;
}
