/* Reads any bytes as a buffer of a sock_diag dump reply (lib/jail/sockdiag) and checks what the
 * hook relies on: no read outside the buffer, every socket listed is a server of the asked protocol
 * with a port and a known family, never more than the cap; the allow-foreign-socket matcher
 * takes any text. The first byte picks the protocol (even: TCP, odd: UDP); the dump's sequence
 * number is 1. Seeds (tests/fuzz/corpus/sockdiag): real dumps of this machine's namespaces
 * (TCP and UDP, IPv4 and IPv6, an IPv4-mapped address, the end mark, an error). */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jail/sockdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_sockdiag_list list = {0};
    dj_error_t err = NULL;
    uint8_t protocol;
    uint8_t *copy;
    bool done = false;
    int r;

    if (size == 0)
        return 0;
    protocol = data[0] % 2 == 0 ? IPPROTO_TCP : IPPROTO_UDP;
    /* An exact-size heap copy, so that the sanitizer sees any read past the end. */
    copy = malloc(size - 1 > 0 ? size - 1 : 1);
    check(copy != NULL);
    memcpy(copy, data + 1, size - 1);
    r = dj_sockdiag_parse(copy, size - 1, 1, protocol, &list, &done, &err);
    check(r == 0 || err != NULL);
    check(list.n <= DJ_SOCKDIAG_MAX_SOCKETS);
    for (size_t i = 0; i < list.n; i++) {
        char text[DJ_SOCKDIAG_ENDPOINT_TEXT];

        check(list.v[i].family == AF_INET || list.v[i].family == AF_INET6);
        check(list.v[i].protocol == protocol && list.v[i].port != 0);
        dj_sockdiag_format(&list.v[i], text);
        check(strlen(text) < sizeof(text));
        /* The formatted form names itself, except for the protocol suffix, which is cut. */
        *strrchr(text, '/') = '\0';
        check(dj_sockdiag_listed(text, &list.v[i]));
    }
    if (list.n > 0) {
        char *text = malloc(size);

        check(text != NULL);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        (void)dj_sockdiag_listed(text, &list.v[0]);
        free(text);
    }
    dj_error_release(&err);
    dj_sockdiag_list_free(&list);
    free(copy);
    return 0;
}
