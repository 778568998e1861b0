/* log.c: the hook's lines in the admin's log file and in the system log (journald or syslog).
 * Neither is worth a refused container: a log that cannot be written is skipped. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "hook.h"

static void open_log(struct hook *h)
{
    cleanup_free char *dir_copy = strdup(h->cfg.log_file);

    h->log_fd = -1;
    if (dir_copy == NULL)
        return;
    if (mkdir(dirname(dir_copy), 0750) < 0 && errno != EEXIST)
        return;
    h->log_fd = open(h->cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

/* One JSON line for the admin's log: what the hook decided for which container. The hook
 * writes a handful of lines per container, so it is not rate-limited. */
void log_event(struct hook *h, const char *event, const char *detail)
{
    char buf[DJ_JSON_LINE_MAX];
    struct dj_json line;
    struct timespec now;
    size_t len;

    open_logs(h);
    if (h->log_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    dj_json_begin(&line, buf, sizeof(buf));
    dj_json_add_time(&line, "time", &now);
    dj_json_add_cstring(&line, "event", event);
    dj_json_add_cstring(&line, "container", h->state.id);
    if (detail != NULL)
        dj_json_add_cstring(&line, "detail", detail);
    len = dj_json_end(&line);
    dj_system_log_send(buf, len);
    if (len > 0 && write(h->log_fd, buf, len) < 0)
        return; /* a full disk must not fail the container */
}

/* The system log that system-log names: "auto" tries journald's socket, then /dev/log;
 * neither there is no error (the log file has everything). A socket named explicitly that
 * cannot be reached is recorded in the log file, and the container still starts: a missing
 * log must not stop a jail. */
static void open_system_log(struct hook *h)
{
    static const struct {
        enum dj_system_log_format format;
        const char *prefix, *path;
    } autos[] = {
        {DJ_SYSTEM_LOG_JOURNAL, "journal:", "/run/systemd/journal/socket"},
        {DJ_SYSTEM_LOG_SYSLOG, "syslog:", "/dev/log"},
    };
    const char *value = h->cfg.system_log;

    h->system_log_fd = -1;
    for (size_t i = 0; i < sizeof(autos) / sizeof(autos[0]); i++) {
        size_t prefix_len = strlen(autos[i].prefix);
        bool explicit = strncmp(value, autos[i].prefix, prefix_len) == 0;
        const char *path = explicit ? value + prefix_len : autos[i].path;
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        int fd;

        if (!explicit && strcmp(value, "auto") != 0)
            continue;
        if (strlen(path) >= sizeof(sun.sun_path))
            continue;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            h->system_log_fd = fd;
            h->system_log_format = autos[i].format;
            dj_system_log_init(fd, autos[i].format, "dnsjail-hook", h->state.id);
            return;
        }
        if (fd >= 0)
            close(fd);
        if (explicit) {
            char detail[PATH_MAX + 64];

            snprintf(detail, sizeof(detail), "system-log %s: %s", value, strerror(errno));
            log_event(h, "system_log_unavailable", detail);
            return;
        }
    }
}

/* Opened on first use, not at start: a container the hook leaves alone (not jailed, nothing
 * to tear down) costs no mkdir, open or connect. */
void open_logs(struct hook *h)
{
    if (h->logs_opened)
        return;
    h->logs_opened = true;
    open_log(h);
    open_system_log(h);
}

/* Records in the admin's log why a container was refused; returns -1 for the caller. */
int logged_refusal(struct hook *h, dj_error_t *err)
{
    log_event(h, "jail_refused", dj_error_msg(err));
    return -1;
}
