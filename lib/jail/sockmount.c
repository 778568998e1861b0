/* sockmount.c: bind mounts of engine and resolver sockets, or of directories holding them.
 *
 * Any Unix socket in the container is a door to whatever serves it, but bind-mounting
 * sockets is common and mostly harmless (/dev/log, an ssh agent, a database). The doors that
 * undo the jail are the ones that start containers (no jail there) or resolve names (the
 * answer and the query cross the host's resolver): those are refused, found by name, and by
 * inode for the usual places (so a hard link or a bind mount under another name is found
 * too). For a mounted directory, the usual places below it are checked first; then it is
 * walked to a bounded depth and number of entries (a bind-mounted /usr has far more, and every
 * container start pays for the walk), without following symlinks: inside the container a
 * symlink resolves against the container's root, not the host's, so following it here would
 * check the wrong file. */
#include "config.h"

#include "jail/sockmount.h"

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"

struct known_inode {
    dev_t dev;
    ino_t ino;
    const char *path;
    char *real; /* the path with symlinks resolved (/var/run/docker.sock: /run/docker.sock) */
};

struct walk {
    const struct oci_bind_mount *mount;
    const char *allowed;
    struct known_inode inodes[DJ_SOCKNAMES_MAX_USUAL_PATHS];
    size_t n_inodes;
    bool inodes_loaded;
    size_t entries;
    char path[PATH_MAX]; /* the host path being looked at */
    size_t path_len;
    /* One getdents64 buffer per depth: a directory's entries are still being gone through
     * while its subdirectories are read. Allocated for the first mounted directory only: most
     * bind mounts are files, and mapping and unmapping 112 KiB cost a start ~0.4 ms (the trace's
     * sockmount_check 0.44 -> 0.05 ms with a file mount only). */
    char (*dirents)[DJ_SOCKMOUNT_DIRENT_BUF];
};

bool dj_sockmount_path_allowed(const char *allowed, const char *path)
{
    size_t path_len = strlen(path);

    while (path_len > 1 && path[path_len - 1] == '/')
        path_len--;
    for (const char *p = allowed; p != NULL && *p != '\0';) {
        size_t len;

        p += strspn(p, ", \t");
        len = strcspn(p, ", \t");
        if (len == 0)
            break;
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len == path_len && memcmp(p, path, len) == 0)
            return true;
        p += strcspn(p, ", \t");
    }
    return false;
}

/* A socket with the inode of one in its usual place is the same door, whatever its name.
 * Looked up on first need (a mounted socket or directory): most bind mounts are files
 * (/etc/hosts, /etc/resolv.conf), and a stat and a realpath of every usual place cost a start
 * ~0.1 ms (the hook's trace, sockmount_check 0.56 -> 0.44 ms with a file mount only). */
static void known_inodes_load(struct walk *w)
{
    const char *path;

    if (w->inodes_loaded)
        return;
    w->inodes_loaded = true;
    for (size_t i = 0; (path = dj_socknames_usual_path(i)) != NULL; i++) {
        struct stat st;

        char *real;

        if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        real = realpath(path, NULL);
        if (real == NULL)
            continue;
        w->inodes[w->n_inodes].dev = st.st_dev;
        w->inodes[w->n_inodes].ino = st.st_ino;
        w->inodes[w->n_inodes].path = path;
        w->inodes[w->n_inodes].real = real;
        w->n_inodes++;
    }
}

static int refuse(const struct walk *w, const char *socket_path, const char *what, dj_error_t *err)
{
    char source[OCI_PRINTABLE_SIZE], destination[OCI_PRINTABLE_SIZE], sock[OCI_PRINTABLE_SIZE];

    return dj_error_make(
        err, 0,
        "the bind mount of %s onto %s gives the container the socket %s, %s; "
        "remove the mount, or list the path in allow-socket-mounts in "
        "dnsjail.conf to accept that risk",
        oci_printable(source, sizeof(source), w->mount->source),
        oci_printable(destination, sizeof(destination),
                      w->mount->destination != NULL ? w->mount->destination : "(no destination)"),
        oci_printable(sock, sizeof(sock), socket_path), what);
}

/* The socket at w->path (with stat ST): refused if it is one we know. NAME_HINT is another
 * name it is known by (the mount's source as written), or NULL. */
static int check_socket(struct walk *w, const struct stat *st, const char *name_hint,
                        dj_error_t *err)
{
    const char *names[2] = {w->path, name_hint};
    const char *what = NULL;
    char same[64];

    for (size_t i = 0; i < 2 && what == NULL; i++)
        if (names[i] != NULL)
            what = dj_socknames_known_path(names[i]);
    if (what == NULL) {
        known_inodes_load(w);
        for (size_t i = 0; i < w->n_inodes; i++)
            if (w->inodes[i].dev == st->st_dev && w->inodes[i].ino == st->st_ino) {
                /* e.g. /run/docker.sock hard-linked or bind-mounted under another name */
                snprintf(same, sizeof(same), "the same socket as %s", w->inodes[i].path);
                what = same;
                break;
            }
    }
    if (what == NULL || dj_sockmount_path_allowed(w->allowed, w->path))
        return 0;
    return refuse(w, w->path, what, err);
}

static int path_push(struct walk *w, const char *name, dj_error_t *err)
{
    size_t len = strlen(name);
    bool slash = w->path_len > 0 && w->path[w->path_len - 1] != '/';

    if (w->path_len + slash + len + 1 > sizeof(w->path))
        return dj_error_make(err, 0, "%s/%s: path too long to check for sockets", w->path, name);
    if (slash)
        w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, name, len + 1);
    w->path_len += len;
    return 0;
}

static void path_pop(struct walk *w, size_t old_len)
{
    w->path_len = old_len;
    w->path[old_len] = '\0';
}

/* linux_dirent64, as getdents64(2) fills the buffer; glibc has no declaration of it. */
struct dirent64_raw {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Looks through the directory open at FD (taken over) for known sockets. Read with getdents64
 * into this depth's buffer of the walk, not with fdopendir: that would add an fstat, two fcntl
 * calls and a buffer's allocation to each of the hundreds of directories a bind-mounted /usr
 * has, half of the walk's system calls and about a third of its time. */
static int walk_dir(struct walk *w, int fd, unsigned depth, dj_error_t *err)
{
    cleanup_close int dir_fd = fd;
    char *buf = w->dirents[depth];

    for (;;) {
        long got = syscall(SYS_getdents64, dir_fd, buf, DJ_SOCKMOUNT_DIRENT_BUF);

        if (got == 0)
            return 0;
        if (got < 0) {
            /* /proc/PID/map_files opens but may not be read: as with opening, skip it. */
            if (errno == EACCES || errno == EPERM || errno == ENOENT)
                return 0;
            return dj_error_make(err, errno, "reading %s", w->path);
        }
        for (long off = 0; off < got;) {
            const struct dirent64_raw *de = (const struct dirent64_raw *)(buf + off);
            size_t old_len = w->path_len;
            unsigned char type = de->d_type;
            struct stat st;

            off += de->d_reclen;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            /* A big tree (a bind-mounted /usr) is not looked through to the end: the places
             * where the sockets usually live were checked before (check_known_places). */
            if (++w->entries > DJ_SOCKMOUNT_MAX_ENTRIES)
                return 0;
            if (type == DT_UNKNOWN || type == DT_SOCK) {
                if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                    continue; /* gone meanwhile */
                type = S_ISSOCK(st.st_mode) ? DT_SOCK : S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
            }
            if (type == DT_SOCK) {
                int r;

                if (path_push(w, de->d_name, err) < 0)
                    return -1;
                r = check_socket(w, &st, NULL, err);
                path_pop(w, old_len);
                if (r < 0)
                    return -1;
            } else if (type == DT_DIR && depth < DJ_SOCKMOUNT_MAX_DEPTH) {
                int sub = openat(dir_fd, de->d_name,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

                if (sub < 0) {
                    /* What we may not read, the container may not either (see the header). */
                    if (errno == EACCES || errno == EPERM || errno == ENOENT || errno == ELOOP ||
                        errno == ENOTDIR)
                        continue;
                    return dj_error_make(err, errno, "%s/%s", w->path, de->d_name);
                }
                if (path_push(w, de->d_name, err) < 0) {
                    close(sub);
                    return -1;
                }
                if (walk_dir(w, sub, depth + 1, err) < 0)
                    return -1;
                path_pop(w, old_len);
                if (w->entries > DJ_SOCKMOUNT_MAX_ENTRIES)
                    return 0;
            }
        }
    }
}

/* The usual places of the sockets below the directory at w->path, however big the tree. */
static int check_known_places(struct walk *w, dj_error_t *err)
{
    size_t len = w->path_len;

    known_inodes_load(w);
    for (size_t i = 0; i < w->n_inodes; i++) {
        const char *real = w->inodes[i].real;
        const char *what;

        if (!(strcmp(w->path, "/") == 0 || (strncmp(real, w->path, len) == 0 && real[len] == '/')))
            continue;
        if (dj_sockmount_path_allowed(w->allowed, real) ||
            dj_sockmount_path_allowed(w->allowed, w->inodes[i].path))
            continue;
        what = dj_socknames_known_path(real);
        return refuse(w, real, what != NULL ? what : "an engine or resolver socket", err);
    }
    return 0;
}

static int check_mount(struct walk *w, const char *bundle_dir, dj_error_t *err)
{
    const char *source = w->mount->source;
    cleanup_free char *joined = NULL;
    cleanup_close int fd = -1;
    struct stat st;

    if (dj_sockmount_path_allowed(w->allowed, source))
        return 0;
    /* The runtimes read a relative source from the bundle directory. */
    if (source[0] != '/') {
        if (asprintf(&joined, "%s/%s", bundle_dir, source) < 0)
            return dj_error_make(err, ENOMEM, "mount source");
        source = joined;
    }
    /* mount(2) follows symlinks in the source, so the file it mounts is the resolved one. */
    if (realpath(source, w->path) == NULL) {
        if (errno == ENOENT || errno == EACCES || errno == ENOTDIR || errno == ELOOP)
            return 0; /* the runtime cannot mount it either */
        return dj_error_make(err, errno, "%s", source);
    }
    w->path_len = strlen(w->path);
    if (dj_sockmount_path_allowed(w->allowed, w->path))
        return 0;
    fd = open(w->path, O_PATH | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return errno == ENOENT || errno == EACCES ? 0 : dj_error_make(err, errno, "%s", w->path);
    if (S_ISSOCK(st.st_mode))
        return check_socket(w, &st, source, err);
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (check_known_places(w, err) < 0)
        return -1;
    if (w->dirents == NULL && (w->dirents = aligned_alloc(8, (DJ_SOCKMOUNT_MAX_DEPTH + 1) *
                                                                 DJ_SOCKMOUNT_DIRENT_BUF)) == NULL)
        return dj_error_make(err, ENOMEM, "checking mounts");
    close(fd);
    fd = open(w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == EACCES ? 0 : dj_error_make(err, errno, "%s", w->path);
    return walk_dir(w, steal_fd(&fd), 0, err);
}

int dj_sockmount_check(const struct oci_bundle *b, const char *bundle_dir, const char *allowed,
                       dj_error_t *err)
{
    cleanup_free struct walk *w = NULL;
    int r = 0;

    if (b->n_bind_mounts == 0)
        return 0;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return dj_error_make(err, ENOMEM, "checking mounts");
    w->allowed = allowed;
    for (size_t i = 0; i < b->n_bind_mounts && r == 0; i++) {
        w->mount = &b->bind_mounts[i];
        w->entries = 0;
        r = check_mount(w, bundle_dir, err);
    }
    for (size_t i = 0; i < w->n_inodes; i++)
        free(w->inodes[i].real);
    free(w->dirents);
    return r;
}
