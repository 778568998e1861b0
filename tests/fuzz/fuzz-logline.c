/* fuzz-logline: the log-line reader (lib/logline) on what a taken-over daemon could write into
 * the log. Besides "no crash", it checks what `dnsjail logs` relies on: every field it
 * prints is NUL-terminated within its size and printable ASCII. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const char *field)
{
    size_t len = strnlen(field, DJ_LOGLINE_FIELD);

    if (len == DJ_LOGLINE_FIELD)
        abort();
    for (size_t i = 0; i < len; i++)
        if (field[i] < 0x20 || field[i] > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_log_line line;

    if (dj_log_line_parse((const char *)data, size, &line)) {
        const char *fields[] = {line.time,     line.event,  line.container, line.client,
                                line.proto,    line.qname,  line.qtype,     line.rcode,
                                line.answer,   line.host,   line.method,    line.path,
                                line.decision, line.reason, line.upstream,  line.detail};

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            check_field(fields[i]);
    }
    return 0;
}
