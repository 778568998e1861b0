/* hostname.c: see hostname.h. */
#include "config.h"

#include "http/hostname.h"

static int is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

enum dj_hostname_problem dj_hostname_check(const char *name, size_t len, unsigned char *bad)
{
    size_t label = 0;
    size_t i;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0)
        return DJ_HOSTNAME_EMPTY;
    if (len > DJ_HOSTNAME_MAX)
        return DJ_HOSTNAME_TOO_LONG;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '.') {
            if (label == 0)
                return DJ_HOSTNAME_EMPTY_LABEL;
            label = 0;
            continue;
        }
        if (!is_host_char(c)) {
            *bad = c;
            return DJ_HOSTNAME_BAD_CHAR;
        }
        if (++label > DJ_HOSTNAME_MAX_LABEL)
            return DJ_HOSTNAME_LABEL_TOO_LONG;
    }
    return label == 0 ? DJ_HOSTNAME_EMPTY_LABEL : DJ_HOSTNAME_OK;
}
