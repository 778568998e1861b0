/* pages.c: see pages.h. */
#include "config.h"
#include "base/pages.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

void *dj_pages_calloc(size_t n, size_t size)
{
    void *p;

    if (n == 0 || size == 0 || n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    p = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void dj_pages_free(void *p, size_t n, size_t size)
{
    if (p != NULL)
        munmap(p, n * size);
}
