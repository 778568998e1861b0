/* noop-hook.c: the floor bench/container-start.sh measures the dnsjail hook against. A
 * runtime that runs any OCI hook at all pays for a fork, an exec, the state JSON written to the
 * hook's stdin and the wait for its exit; this hook costs exactly that and nothing of its own.
 * Built with -static by the bench, so no dynamic loading is in the floor either. It reads its
 * stdin to EOF as a real hook does: a hook that exits before reading can make the runtime's
 * write fail (EPIPE) or return early, which would make the floor lower than any real hook's. */
#include <errno.h>
#include <unistd.h>

int main(void)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return 1;
    }
}
