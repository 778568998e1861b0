/* fuzz-adminconf: bytes as dnsjail.conf. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jail/adminconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_adminconf cfg;
    dj_error_t err = NULL;

    if (dj_adminconf_init(&cfg, &err) < 0)
        return 0;
    if (dj_adminconf_parse(&cfg, "fuzz.conf", (const char *)data, size, &err) < 0) {
        if (strchr(dj_error_msg(&err), '\n') != NULL)
            abort();
        dj_error_release(&err);
    } else {
        /* What the parser promises about an accepted file. */
        if (cfg.dns_port == 0 || cfg.proxy_http_port == 0 || cfg.proxy_tls_port == 0 ||
            cfg.dns_port == cfg.proxy_http_port || cfg.dns_port == cfg.proxy_tls_port ||
            cfg.proxy_http_port == cfg.proxy_tls_port || cfg.dns_ttl > 86400 ||
            cfg.ready_timeout_ms < 100 || cfg.ready_timeout_ms > 60000 || cfg.log_burst == 0 ||
            cfg.log_file[0] != '/' || cfg.state_dir[0] != '/' || cfg.libexec_dir[0] != '/' ||
            cfg.run_as_user[0] == '\0')
            abort();
    }
    dj_adminconf_free(&cfg);
    return 0;
}
