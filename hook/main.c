/* main.c: dnsjail-hook's options, its stage and the OCI state on stdin; then jail.c does the
 * stage's work. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "hook.h"
#include "trace.h"

#define DEFAULT_CONFIG DJ_SYSCONFDIR "/dnsjail.conf"

enum stage { STAGE_START, STAGE_STOP };

static void usage(FILE *out)
{
    fprintf(out, "Usage: dnsjail-hook [--config FILE] [--profile NAME] STAGE\n"
                 "OCI hook that jails a container's DNS and egress. STAGE is prestart,\n"
                 "createRuntime or poststop; the runtime passes the OCI state on stdin.\n"
                 "\n"
                 "  --config FILE  admin configuration (default " DEFAULT_CONFIG ")\n"
                 "  --profile NAME the configuration's profile.NAME.* for this container\n"
                 "                 (dnsjail-runtime --profile puts it here)\n"
                 "  --help         this text\n"
                 "  --version      the version\n"
                 "\n"
                 "Annotations read from the container:\n"
                 "  io.dnsjail.enable=true|false   jail it (default: the config's default-enable)\n"
                 "  io.dnsjail.mode=enforce|audit  audit: nothing blocked, would_block logged\n"
                 "  io.dnsjail.allow=RULES         hosts the container may reach, separated by\n"
                 "                                 commas or spaces:\n"
                 "      example.com                that host on ports 80 and 443\n"
                 "      *.example.com              any name below example.com (not itself)\n"
                 "      example.com:8443           that host on port 8443 only\n"
                 "      192.0.2.7  203.0.113.0/24:443  [2001:db8::1]:443   addresses and networks\n"
                 "  io.dnsjail.forward=ZONES        zones whose names the DNS stub forwards to a\n"
                 "                                 real resolver (within the config's\n"
                 "                                 annotation-forward-within)\n"
                 "See docs/POLICY.md for the whole grammar.\n");
}

int read_all(int fd, size_t max, char **out, size_t *out_len, const char *what, dj_error_t *err)
{
    if (dj_file_read_fd(fd, max, out, out_len) == 0)
        return 0;
    if (errno == EFBIG)
        return dj_error_make(err, 0, "%s is larger than %zu bytes", what, max);
    return dj_error_make(err, errno, "reading %s", what);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct hook h;
    const char *config_path = DEFAULT_CONFIG;
    bool config_given = false;
    cleanup_free char *input = NULL;
    cleanup_free char *rootless_config = NULL;
    dj_error_t err = NULL;
    enum stage stage;
    size_t input_len;
    int opt, r = -1;

    memset(&h, 0, sizeof(h));
    h.log_fd = -1;
    h.system_log_fd = -1;
    h.metrics_fd = -1;
    h.virt.map_fd = h.virt.map_ro_fd = -1;
    while ((opt = getopt_long(argc, argv, "c:p:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            config_given = true;
            break;
        case 'p':
            if (!dj_adminconf_profile_name_ok(optarg, strlen(optarg))) {
                fprintf(stderr,
                        "dnsjail: --profile: \"%s\" is not a profile name ([a-z0-9-], "
                        "up to %d)\n",
                        optarg, DJ_PROFILE_NAME_MAX);
                return 2;
            }
            h.profile = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("dnsjail-hook %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dnsjail: expected exactly one STAGE argument (prestart, createRuntime "
                        "or poststop); see --help\n");
        return 2;
    }
    if (strcmp(argv[optind], "prestart") == 0 || strcmp(argv[optind], "createRuntime") == 0) {
        stage = STAGE_START;
    } else if (strcmp(argv[optind], "poststop") == 0) {
        stage = STAGE_STOP;
    } else {
        fprintf(stderr,
                "dnsjail: unknown stage '%s' (expected prestart, createRuntime or "
                "poststop)\n",
                argv[optind]);
        return 2;
    }
    trace_init(stage == STAGE_START ? "prestart" : "poststop");

    if (dj_rootless_detect(&h.rootless, &err) < 0 || dj_adminconf_init(&h.cfg, &err) < 0)
        goto out;
    if (h.rootless.active) {
        if (!config_given && (rootless_config = dj_rootless_config_path(&h.rootless)) == NULL) {
            dj_error_make(&err, ENOMEM, "rootless configuration path");
            goto out;
        }
        if (!config_given)
            config_path = rootless_config;
        if (dj_rootless_apply_defaults(&h.rootless, &h.cfg, &err) < 0)
            goto out;
    }
    if (dj_adminconf_load(&h.cfg, config_path, !config_given, &err) < 0)
        goto out;
    trace_mark("config");
    if (read_all(STDIN_FILENO, OCI_STATE_MAX_BYTES, &input, &input_len, "the OCI state on stdin",
                 &err) < 0)
        goto out;
    if (oci_state_parse(input, input_len, &h.state, &err) < 0) {
        dj_error_wrap(&err, "the OCI state on stdin");
        goto out;
    }
    trace_mark("state");
    if (!oci_id_is_safe(h.state.id)) {
        char shown[OCI_PRINTABLE_SIZE];

        dj_error_make(&err, 0, "container id \"%s\" has characters dnsjail does not accept",
                      oci_printable(shown, sizeof(shown), h.state.id));
        goto out;
    }
    if (stage == STAGE_STOP) {
        jail_stop(&h);
        r = 0;
    } else {
        r = jail_start(&h, &err);
    }
out:
    if (r < 0)
        fprintf(stderr, "dnsjail: %s\n", dj_error_msg(&err));
    dj_error_release(&err);
    if (h.log_fd >= 0)
        close(h.log_fd);
    if (h.system_log_fd >= 0)
        close(h.system_log_fd);
    virtual_close(&h);
    free(h.networks);
    free(h.audit_upstreams);
    free(h.blocked);
    dj_policy_free(&h.policy);
    oci_bundle_free(&h.bundle);
    trace_mark("exit");
    trace_flush(h.state.id);
    oci_state_free(&h.state);
    dj_adminconf_free(&h.cfg);
    dj_rootless_free(&h.rootless);
    /* Poststop never fails the runtime's teardown, even on bad input. */
    return r < 0 && stage != STAGE_STOP ? 1 : 0;
}
