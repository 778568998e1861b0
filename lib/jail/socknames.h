/* socknames.h: the engine and resolver sockets dnsjail knows, by name and by usual place.
 * The hook refuses bind mounts of them (sockmount.c); the leaktest probe looks for them inside
 * the container and uses them as an attacker would. One list, so the two never disagree.
 * Pure data and lookups, no I/O: the static leaktest binary links it without the hook's
 * dependencies. */
#ifndef DNSJAIL_SOCKNAMES_H
#define DNSJAIL_SOCKNAMES_H

#include <stddef.h>

/* At least as many as dj_socknames_usual_path knows (checked where the list is). */
#define DJ_SOCKNAMES_MAX_USUAL_PATHS 24

/* What a socket called NAME in a directory called PARENT (may be NULL) is, when it is one of
 * the engine or resolver sockets we know by name ("a container engine's API socket"...);
 * NULL otherwise. */
const char *dj_socknames_known_name(const char *parent, const char *name);

/* dj_socknames_known_name for the last two components of PATH. */
const char *dj_socknames_known_path(const char *path);

/* The Ith usual place of such a socket (an absolute path, on the host as in a container that
 * mounts it where the engines' clients look), NULL past the last. */
const char *dj_socknames_usual_path(size_t i);

#endif
