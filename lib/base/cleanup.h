/* cleanup.h: scope-bound release of resources (GCC/Clang cleanup attribute), so every early
 * return frees what the function took. Owns: nothing but the macros. */
#ifndef DNSJAIL_CLEANUP_H
#define DNSJAIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void dj_freep(void *p)
{
    free(*(void **)p);
}

static inline void dj_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void dj_fclosep(FILE **f)
{
    if (*f != NULL)
        fclose(*f);
}

#define cleanup_free __attribute__((cleanup(dj_freep)))
#define cleanup_close __attribute__((cleanup(dj_closep)))
#define cleanup_fclose __attribute__((cleanup(dj_fclosep)))

/* Hands ownership out of a cleanup_* variable: `return steal_fd(&fd);`. */
static inline int steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

static inline void *steal_ptr(void *pp)
{
    void **p = pp;
    void *r = *p;
    *p = NULL;
    return r;
}

#endif
