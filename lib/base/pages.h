/* pages.h: zeroed memory straight from the kernel, for the large tables a daemon sizes for its
 * limits but mostly leaves empty (connection slots, hash buckets, the state that carries a
 * scratch buffer). calloc() clears with memset whenever it carves from heap memory already
 * there, which makes every page of such a table resident at start-up; anonymous mmap()
 * pages become resident only when first written, so an idle daemon pays for the slots it
 * uses. mmap and munmap are in every sandbox's base list (lib/daemon/sandbox.c).
 * Owns: nothing; the caller frees with the size it allocated. */
#ifndef DNSJAIL_PAGES_H
#define DNSJAIL_PAGES_H

#include <stddef.h>

/* N zeroed elements of SIZE bytes, page-aligned; NULL with errno (ENOMEM, also on overflow).
 * Each call costs a mapping: meant for a few long-lived tables, not per connection. */
void *dj_pages_calloc(size_t n, size_t size);

/* Releases P (NULL: nothing) of N elements of SIZE, as given to dj_pages_calloc(). */
void dj_pages_free(void *p, size_t n, size_t size);

#endif
