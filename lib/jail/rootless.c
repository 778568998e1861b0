/* rootless.c: see rootless.h. */
#include "config.h"
#include "jail/rootless.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/passwd.h"

int dj_rootless_detect(struct dj_rootless *rl, dj_error_t *err)
{
    cleanup_fclose FILE *map = fopen("/proc/self/uid_map", "re");
    uid_t self = geteuid();
    unsigned long inside, outside, count;
    bool identity = false, found = false;
    int lines = 0;

    memset(rl, 0, sizeof(*rl));
    if (map == NULL)
        return dj_error_make(err, errno, "reading /proc/self/uid_map");
    while (fscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3) {
        lines++;
        /* The initial user namespace maps every uid to itself, in one line. */
        if (inside == 0 && outside == 0 && count == 4294967295ul)
            identity = true;
        if (self >= inside && self - inside < count) {
            rl->outer_uid = (uid_t)(outside + (self - inside));
            found = true;
        }
    }
    if (lines == 1 && identity)
        return 0;
    if (!found)
        return dj_error_make(err, 0, "uid %u has no mapping in /proc/self/uid_map", (unsigned)self);
    rl->active = true;
    {
        /* /etc/passwd, not getpwuid_r: the static hook must not load NSS modules
         * (base/passwd.h). */
        struct dj_passwd_user user;
        int r = dj_passwd_find(DJ_PASSWD_PATH, NULL, rl->outer_uid, &user, err);

        if (r < 0)
            return -1;
        if (r == 0)
            return dj_error_make(err, 0, "rootless: uid %u is not in %s", (unsigned)rl->outer_uid,
                                 DJ_PASSWD_PATH);
        if (user.home[0] != '/') {
            dj_passwd_user_free(&user);
            return dj_error_make(err, 0, "rootless: uid %u has no absolute home directory",
                                 (unsigned)rl->outer_uid);
        }
        rl->home = user.home;
    }
    return 0;
}

char *dj_rootless_config_path(const struct dj_rootless *rl)
{
    char *path = NULL;

    if (asprintf(&path, "%s/.config/dnsjail/dnsjail.conf", rl->home) < 0)
        return NULL;
    return path;
}

static int replace(char **field, char *value, dj_error_t *err)
{
    if (value == NULL)
        return dj_error_make(err, ENOMEM, "rootless defaults");
    free(*field);
    *field = value;
    return 0;
}

int dj_rootless_apply_defaults(const struct dj_rootless *rl, struct dj_adminconf *cfg,
                               dj_error_t *err)
{
    char runtime_dir[64];
    struct stat st;
    char *state = NULL, *log_dir = NULL, *log = NULL;

    snprintf(runtime_dir, sizeof(runtime_dir), "/run/user/%u", (unsigned)rl->outer_uid);
    /* The XDG runtime directory is the user's own tmpfs when logind made one; it must be ours
     * (root inside the namespace is the user outside) and private. */
    if (stat(runtime_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 077) == 0) {
        if (asprintf(&state, "%s/dnsjail", runtime_dir) < 0)
            state = NULL;
    } else if (asprintf(&state, "%s/.local/state/dnsjail/run", rl->home) < 0) {
        state = NULL;
    }
    if (replace(&cfg->state_dir, state, err) < 0)
        return -1;
    if (asprintf(&log_dir, "%s/.local/state/dnsjail", rl->home) < 0)
        return dj_error_make(err, ENOMEM, "rootless defaults");
    if (dj_file_mkdir_p(log_dir, 0700, 0700, err) < 0) {
        free(log_dir);
        return -1;
    }
    if (asprintf(&log, "%s/dnsjail.log", log_dir) < 0)
        log = NULL;
    free(log_dir);
    return replace(&cfg->log_file, log, err);
}

void dj_rootless_free(struct dj_rootless *rl)
{
    free(rl->home);
    rl->home = NULL;
}

bool dj_rootless_uid_means_root(void)
{
    struct dj_rootless rl;
    int bits;
    bool userns;

    if (geteuid() != 0)
        return false;
    bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    if (bits < 0 || !(bits & SECBIT_NOROOT))
        return true;
    /* Fail closed: a map we cannot read counts as the initial namespace. */
    userns = dj_rootless_detect(&rl, NULL) == 0 && rl.active;
    dj_rootless_free(&rl);
    return !userns;
}
