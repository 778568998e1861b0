/* sockmount.h: refuses bind mounts that hand the container a host socket through which it
 * could get around the jail: a container engine's API (start an unjailed container) or a
 * resolver (resolve any name on the host). docs/DESIGN.md (threat model) says why these and
 * not every socket.
 * Owns: the bounded walk of a mounted directory (the known sockets are socknames.h's). */
#ifndef DNSJAIL_SOCKMOUNT_H
#define DNSJAIL_SOCKMOUNT_H

#include <stdbool.h>

#include "base/error.h"
#include "jail/oci.h"
#include "jail/socknames.h"

/* A mounted directory is looked through this many levels below its top, and through at most
 * this many entries (depth first); what lies beyond is not seen, except the usual places of
 * the sockets, which are always checked. */
#define DJ_SOCKMOUNT_MAX_DEPTH 6
#define DJ_SOCKMOUNT_MAX_ENTRIES 4096
/* Bytes of directory entries read at once per depth of the walk (about 500 entries). */
#define DJ_SOCKMOUNT_DIRENT_BUF 16384

/* Is PATH one of the paths in ALLOWED (allow-socket-mounts: absolute paths separated by
 * commas and/or blanks; a trailing '/' does not count)? */
bool dj_sockmount_path_allowed(const char *allowed, const char *path);

/* Checks every bind mount of B (relative sources are relative to BUNDLE_DIR) on the host: a
 * source that is, or a directory that holds, an engine or resolver socket is an error that
 * names the mount and the socket, unless the mount's source or the socket's path is listed in
 * ALLOWED (NULL: none). Sources that do not exist or that we may not read are left to the
 * runtime: the hook runs with at least the container's rights (root, or the rootless user). */
int dj_sockmount_check(const struct oci_bundle *b, const char *bundle_dir, const char *allowed,
                       dj_error_t *err);

#endif
