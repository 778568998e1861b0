/* keeper.c: the keeper namespace (keeper.h says why). */
#define _GNU_SOURCE
#include "jail/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "jail/nft.h"

#define PIN_NAME "netns"

char *dj_keeper_pin_path(const char *state_dir)
{
    char *path = NULL;

    if (asprintf(&path, "%s-keeper/" PIN_NAME, state_dir) < 0)
        return NULL;
    return path;
}

bool dj_keeper_present(const char *pin)
{
    struct statfs fs;

    return statfs(pin, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

struct keeper_call {
    const char *pin;
    dj_error_t *err;
    int result;
};

/* On a thread of its own: a network namespace is per thread, and this one never goes back.
 * The table goes in before the mount, so a pin always holds a complete keeper. */
static void *build_keeper(void *arg)
{
    struct keeper_call *call = arg;

    call->result = -1;
    if (unshare(CLONE_NEWNET) < 0) {
        dj_error_make(call->err, errno, "keeper: cannot create a network namespace");
        return NULL;
    }
    if (dj_nft_keeper_install(call->err) < 0)
        return NULL;
    if (mount("/proc/thread-self/ns/net", call->pin, NULL, MS_BIND, NULL) < 0) {
        dj_error_make(call->err, errno, "keeper: cannot pin its namespace at %s", call->pin);
        return NULL;
    }
    call->result = 0;
    return NULL;
}

int dj_keeper_ensure(const char *pin, bool *created, dj_error_t *err)
{
    cleanup_free char *dir = strdup(pin);
    cleanup_close int dir_fd = -1;
    cleanup_close int pin_fd = -1;
    struct keeper_call call = {pin, err, -1};
    pthread_t thread;
    char *slash;
    int r;

    *created = false;
    if (dj_keeper_present(pin))
        return 0;
    if (dir == NULL)
        return dj_error_make(err, ENOMEM, "keeper path");
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir)
        *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return dj_error_make(err, errno, "keeper: cannot create %s", dir);
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Two first containers at once: one creates, the other finds it made (no second mount
     * stacked on the first). */
    if (dir_fd < 0 || flock(dir_fd, LOCK_EX) < 0)
        return dj_error_make(err, errno, "keeper: cannot lock %s", dir);
    if (dj_keeper_present(pin))
        return 0;
    pin_fd = open(pin, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (pin_fd < 0)
        return dj_error_make(err, errno, "keeper: cannot create %s", pin);
    r = pthread_create(&thread, NULL, build_keeper, &call);
    if (r != 0)
        return dj_error_make(err, r, "keeper: cannot start a thread");
    r = pthread_join(thread, NULL);
    if (r != 0) {
        /* The thread is in the keeper's namespace, never in ours: nothing to undo. */
        return dj_error_make(err, r, "keeper: cannot wait for its thread");
    }
    if (call.result < 0)
        return -1;
    *created = true;
    return 0;
}
