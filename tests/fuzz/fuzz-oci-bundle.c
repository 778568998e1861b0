/* fuzz-oci-bundle: bytes as a bundle's config.json. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jail/oci.h"
#include "jail/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oci_bundle b;
    struct dj_adminconf cfg;
    struct dj_policy policy;
    dj_error_t err = NULL;

    if (oci_bundle_parse((const char *)data, size, &b, &err) < 0) {
        if (strchr(dj_error_msg(&err), '\n') != NULL)
            abort();
        dj_error_release(&err);
        return 0;
    }
    /* Only the 41 known capabilities can be set; a path is absolute and implies a netns. */
    if ((b.caps_any >> 41) != 0 ||
        (b.netns_path != NULL && (!b.have_netns || b.netns_path[0] != '/')))
        abort();
    /* Every bind mount kept has a source (what lib/jail/sockmount.c checks on the host). */
    for (size_t i = 0; i < b.n_bind_mounts; i++)
        if (b.bind_mounts[i].source == NULL || b.bind_mounts[i].source[0] == '\0')
            abort();
    if (dj_adminconf_init(&cfg, &err) == 0) {
        if (dj_policy_from_annotations(b.annotations, b.n_annotations, &cfg, &policy, &err) == 0)
            dj_policy_free(&policy);
        dj_adminconf_free(&cfg);
    }
    dj_error_release(&err);
    oci_bundle_free(&b);
    return 0;
}
