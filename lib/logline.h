/* logline.h: reads back one line of dnsjail's JSON log (lib/jsonlog writes them), for the
 * `dnsjail logs` command. The daemons write these lines and a taken-over daemon could write
 * anything, so this is pure code with a libFuzzer target (tests/fuzz/fuzz-logline.c): the
 * line must be one JSON object of at most DJ_LOGLINE_MAX bytes; the fields a person reads are
 * copied out bounded and reduced to printable ASCII, everything else is ignored.
 * Owns: that reading. */
#ifndef DNSJAIL_LOGLINE_H
#define DNSJAIL_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DJ_LOGLINE_MAX 65536
#define DJ_LOGLINE_FIELD 256 /* longest text kept per field, NUL included */

struct dj_log_line {
    char time[DJ_LOGLINE_FIELD];
    char event[DJ_LOGLINE_FIELD];
    char container[DJ_LOGLINE_FIELD];
    char client[DJ_LOGLINE_FIELD];
    char proto[DJ_LOGLINE_FIELD];
    char qname[DJ_LOGLINE_FIELD];
    char qtype[DJ_LOGLINE_FIELD];
    char rcode[DJ_LOGLINE_FIELD];
    char answer[DJ_LOGLINE_FIELD];
    char host[DJ_LOGLINE_FIELD];
    char method[DJ_LOGLINE_FIELD];
    char path[DJ_LOGLINE_FIELD];
    char decision[DJ_LOGLINE_FIELD];
    char reason[DJ_LOGLINE_FIELD];
    char upstream[DJ_LOGLINE_FIELD];
    char detail[DJ_LOGLINE_FIELD];
    uint64_t port;   /* 0: absent */
    uint64_t status; /* 0: absent */
};

/* Parses LINE (LEN bytes, no newline needed, need not be NUL-terminated). Returns false when
 * it is not one JSON object (or too long); absent fields are "" and 0. */
bool dj_log_line_parse(const char *line, size_t len, struct dj_log_line *out);

#endif
