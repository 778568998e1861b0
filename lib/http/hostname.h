/* hostname.h: is this text a plausible DNS host name? The one rule for the HTTP Host header
 * (httphead) and the TLS server name (tlshello): ASCII letters, digits, '-' and '_', labels of
 * 1 to 63 bytes, at most 253 bytes plus one trailing dot. A dotted IPv4 address passes too.
 *
 * Each caller words its own messages (they name the field: "host", "host_name"), so this
 * returns what is wrong as a code. Pure code. Owns: enum dj_hostname_problem. */
#ifndef DNSJAIL_HOSTNAME_H
#define DNSJAIL_HOSTNAME_H

#include <stddef.h>

#define DJ_HOSTNAME_MAX 253 /* bytes, without one trailing dot */
#define DJ_HOSTNAME_MAX_LABEL 63

enum dj_hostname_problem {
    DJ_HOSTNAME_OK = 0,
    DJ_HOSTNAME_EMPTY,
    DJ_HOSTNAME_TOO_LONG,
    DJ_HOSTNAME_EMPTY_LABEL,
    DJ_HOSTNAME_LABEL_TOO_LONG,
    DJ_HOSTNAME_BAD_CHAR, /* *bad holds the first byte that is not allowed */
};

enum dj_hostname_problem dj_hostname_check(const char *name, size_t len, unsigned char *bad);

#endif
