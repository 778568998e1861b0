/* fuzz-oci-state: bytes as the OCI state on the hook's stdin, then through the policy the
 * hook would build from its annotations. */
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
    struct oci_state st;
    struct dj_adminconf cfg;
    struct dj_policy policy;
    dj_error_t err = NULL;

    if (oci_state_parse((const char *)data, size, &st, &err) < 0) {
        /* Every message is one line. */
        if (strchr(dj_error_msg(&err), '\n') != NULL)
            abort();
        dj_error_release(&err);
        return 0;
    }
    if (st.id == NULL || st.bundle == NULL || st.bundle[0] != '/' || st.pid < 0 ||
        (st.n_annotations > 0 && !st.have_annotations))
        abort();
    (void)oci_id_is_safe(st.id);
    if (dj_adminconf_init(&cfg, &err) == 0) {
        if (dj_policy_from_annotations(st.annotations, st.n_annotations, &cfg, &policy, &err) ==
            0) {
            free(dj_policy_canonical(&policy));
            dj_policy_free(&policy);
        }
        dj_adminconf_free(&cfg);
    }
    dj_error_release(&err);
    oci_state_free(&st);
    return 0;
}
