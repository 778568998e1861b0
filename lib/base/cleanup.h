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

/* dnsjail's own structs, released by their own functions, each of which accepts the struct in
 * its empty state (initialise it so) and leaves it empty: the variable's header must be
 * included where the attribute is used, not here. */
#define cleanup_error __attribute__((cleanup(dj_error_release)))          /* dj_error_t = NULL */
#define cleanup_netns __attribute__((cleanup(dj_netns_close)))            /* {-1, 0, 0} */
#define cleanup_state __attribute__((cleanup(dj_state_close)))            /* {NULL, -1} */
#define cleanup_record __attribute__((cleanup(dj_container_record_free))) /* {NULL, NULL} */
#define cleanup_sockdiag_list __attribute__((cleanup(dj_sockdiag_list_free))) /* {0} */
#define cleanup_daemonconf __attribute__((cleanup(dj_daemonconf_free)))       /* {0} */

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
