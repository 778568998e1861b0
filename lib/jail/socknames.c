/* socknames.c: the known engine and resolver sockets (socknames.h). */
#include "config.h"

#include "jail/socknames.h"

#include <string.h>

#define ENGINE "a container engine's API, through which the container could start an unjailed one"

struct known_name {
    const char *parent; /* NULL: any directory */
    const char *name;
    const char *what;
};

static const struct known_name known_names[] = {
    {NULL, "docker.sock", ENGINE},
    {NULL, "podman.sock", ENGINE},
    {NULL, "containerd.sock", ENGINE},
    {NULL, "containerd.sock.ttrpc", ENGINE},
    {NULL, "crio.sock", ENGINE},
    {NULL, "cri-dockerd.sock", ENGINE},
    {NULL, "buildkitd.sock", ENGINE},
    {NULL, "io.systemd.Resolve", "systemd-resolved's varlink interface, which resolves any name"},
    {NULL, "system_bus_socket",
     "the D-Bus system bus, through which systemd-resolved resolves any name"},
    {"systemd", "private", "systemd's private bus, which can start services outside the container"},
    {"nscd", "socket", "nscd's socket, which resolves any name"},
    {"avahi-daemon", "socket", "avahi's socket, which resolves names over multicast DNS"},
};

/* Where the sockets above usually live; the /var/run forms are where clients in a container
 * look (`-v /var/run/docker.sock:/var/run/docker.sock`), and on hosts where /var/run is no
 * symlink. */
static const char *const usual_paths[] = {
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/systemd/resolve/io.systemd.Resolve",
    "/run/dbus/system_bus_socket",
    "/run/systemd/private",
    "/run/nscd/socket",
    "/run/avahi-daemon/socket",
    "/var/run/docker.sock",
    "/var/run/podman/podman.sock",
    "/var/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/var/run/dbus/system_bus_socket",
    "/var/run/nscd/socket",
};
_Static_assert(sizeof(usual_paths) / sizeof(usual_paths[0]) <= DJ_SOCKNAMES_MAX_USUAL_PATHS,
               "raise DJ_SOCKNAMES_MAX_USUAL_PATHS");

const char *dj_socknames_known_name(const char *parent, const char *name)
{
    for (size_t i = 0; i < sizeof(known_names) / sizeof(known_names[0]); i++) {
        const struct known_name *k = &known_names[i];

        if (strcmp(name, k->name) == 0 &&
            (k->parent == NULL || (parent != NULL && strcmp(parent, k->parent) == 0)))
            return k->what;
    }
    return NULL;
}

const char *dj_socknames_known_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    char parent[256] = ""; /* NAME_MAX + 1 */

    if (slash != NULL && slash != path) {
        const char *start = slash;
        size_t len;

        while (start > path && start[-1] != '/')
            start--;
        len = (size_t)(slash - start);
        if (len < sizeof(parent)) {
            memcpy(parent, start, len);
            parent[len] = '\0';
        }
    }
    return dj_socknames_known_name(parent, slash != NULL ? slash + 1 : path);
}

const char *dj_socknames_usual_path(size_t i)
{
    return i < sizeof(usual_paths) / sizeof(usual_paths[0]) ? usual_paths[i] : NULL;
}
