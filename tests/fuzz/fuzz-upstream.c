/* Reads any bytes as an upstream server's text (lib/dns/upstream) and checks what the resolver
 * relies on: an accepted server has an address with a port, only tls:// carries a name, pins
 * or a CA file, a tls:// one is authenticated by something, the name is a lower-case host
 * name and the CA path absolute; parsing is deterministic.
 * Seeds (tests/fuzz/corpus/upstream): the forms of docs/CONFIG.md, good and bad. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[DJ_UPSTREAM_MAX_TEXT + 8];
    struct dj_upstream a, b;
    const char *problem;
    size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    in_port_t port;

    memcpy(text, data, len);
    text[len] = '\0';
    problem = dj_upstream_parse(text, &a);
    check((dj_upstream_parse(text, &b) == NULL) == (problem == NULL));
    if (problem != NULL)
        return 0;
    check(memcmp(&a, &b, sizeof(a)) == 0);
    check(a.addr.ss_family == AF_INET || a.addr.ss_family == AF_INET6);
    port = a.addr.ss_family == AF_INET ? ((struct sockaddr_in *)&a.addr)->sin_port
                                       : ((struct sockaddr_in6 *)&a.addr)->sin6_port;
    check(port != 0);
    check(a.n_pins <= DJ_UPSTREAM_MAX_PINS);
    check(memchr(a.auth_name, '\0', sizeof(a.auth_name)) != NULL);
    check(memchr(a.ca_file, '\0', sizeof(a.ca_file)) != NULL);
    if (a.transport != DJ_UPSTREAM_TLS) {
        check(a.auth_name[0] == '\0' && a.n_pins == 0 && a.ca_file[0] == '\0');
        check(strchr(text, '#') == NULL && strchr(text, ';') == NULL);
    } else {
        check(a.auth_name[0] != '\0' || a.n_pins > 0);
    }
    check(a.ca_file[0] == '\0' || a.ca_file[0] == '/');
    for (const char *c = a.auth_name; *c != '\0'; c++)
        check(!(*c >= 'A' && *c <= 'Z') && !(*c == '.' && c[1] == '\0'));
    check(dj_upstream_transport_text(a.transport)[0] != '?');
    return 0;
}
