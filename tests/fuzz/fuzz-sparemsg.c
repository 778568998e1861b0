/* Reads any bytes as a command to a spare daemon (lib/daemon/sparemsg), with as many
 * descriptors as the first byte says, and as a spare's hello, and checks what the spare and
 * the hook rely on: an accepted assignment names each descriptor exactly once, --ready-fd
 * among them, only with options that hand over a descriptor, and a container id without
 * blanks; parsing is deterministic; and what was accepted, written again by the hook's writer,
 * parses to the same assignment. Seeds (tests/fuzz/corpus/sparemsg): what the hook sends a stub
 * and a proxy, a retirement, a hello, and texts each check refuses. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/sparemsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition)
        abort();
}

static bool is_fd_option(const char *option)
{
    for (const char *const *o = dj_sparemsg_fd_options; *o != NULL; o++)
        if (*o == option)
            return true;
    return false;
}

static void check_assign(const struct dj_sparemsg_assign *a, size_t n_fds)
{
    bool used[DJ_SPAREMSG_MAX_FDS] = {false};
    size_t ready = 0;

    check(a->n_fds == n_fds);
    check(a->container_id[0] != '\0' && strlen(a->container_id) <= DJ_SPAREMSG_MAX_ID);
    for (const char *c = a->container_id; *c != '\0'; c++)
        check((unsigned char)*c > ' ' && (unsigned char)*c < 0x7f);
    for (size_t i = 0; i < a->n_fds; i++) {
        check(is_fd_option(a->fds[i].option));
        check(a->fds[i].index < n_fds && !used[a->fds[i].index]);
        used[a->fds[i].index] = true;
        ready += strcmp(a->fds[i].option, "--ready-fd") == 0;
    }
    check(ready == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_sparemsg_assign a, b, again;
    struct dj_sparemsg_hello hello, hello_again;
    enum dj_sparemsg_kind kind, kind_b;
    char buf[DJ_SPAREMSG_MAX];
    dj_error_t err = NULL;
    size_t n_fds;
    int r, len;

    if (size == 0 || size > DJ_SPAREMSG_MAX)
        return 0;
    n_fds = data[0] % (DJ_SPAREMSG_MAX_FDS + 2);
    data++;
    size--;
    r = dj_sparemsg_parse_command((const char *)data, size, n_fds, &kind, &a, &err);
    check((r < 0) == (err != NULL));
    dj_error_release(&err);
    check(dj_sparemsg_parse_command((const char *)data, size, n_fds, &kind_b, &b, NULL) == r);
    if (r == 0 && kind == DJ_SPAREMSG_RETIRE)
        check(n_fds == 0);
    if (r == 0 && kind == DJ_SPAREMSG_ASSIGN) {
        check_assign(&a, n_fds);
        len = dj_sparemsg_format_assign(&a, buf, sizeof(buf), NULL);
        check(len > 0);
        check(dj_sparemsg_parse_command(buf, (size_t)len, n_fds, &kind_b, &again, NULL) == 0);
        check(kind_b == DJ_SPAREMSG_ASSIGN && again.n_fds == a.n_fds);
        check(strcmp(again.container_id, a.container_id) == 0);
        for (size_t i = 0; i < a.n_fds; i++)
            check(again.fds[i].option == a.fds[i].option && again.fds[i].index == a.fds[i].index);
    }
    if (dj_sparemsg_parse_hello((const char *)data, size, &hello, NULL) == 0) {
        check(hello.program[0] != '\0');
        len = dj_sparemsg_format_hello(&hello, buf, sizeof(buf));
        check(len > 0);
        check(dj_sparemsg_parse_hello(buf, (size_t)len, &hello_again, NULL) == 0);
        check(memcmp(&hello, &hello_again, sizeof(hello)) == 0);
    }
    return 0;
}
