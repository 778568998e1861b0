/* state.h: what the hook remembers between its prestart and poststop runs, on disk under
 * the admin's state-dir (default /run/dnsjail), owned by root:
 *
 *   lock                     flock'd by every hook run: hook runs are short, so one global
 *                            lock keeps concurrent containers of a pod from racing
 *   containers/ID            per container: its namespace key and namespace path
 *   netns/KEY/policy         per network namespace: the canonical policy every member shares
 *   netns/KEY/members/ID     one file per container in that namespace: "PID START\n" of its
 *                            init (see proc.h), so that a repair can watch it again
 *   netns/KEY/bystanders     "PID START" lines: the processes that were in the namespace
 *                            before its jail (a pod's infra container); they are not members
 *   netns/KEY/NAME.control   each daemon's control socket (see control.h), NAME "dnsstub"...
 *   netns/KEY/NAME.pid       each daemon's pid, for people and for the last-resort kill
 *   netns/KEY/metrics/       owned by the daemons' user (0755): NAME.prom, their metrics
 *
 * KEY is "DEV-INO" of the namespace. Owns: that layout and its reading and writing. */
#ifndef DNSJAIL_STATE_H
#define DNSJAIL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "jail/netns.h"
#include "jail/proc.h"

struct dj_state {
    char *dir;
    int lock_fd;
};

struct dj_container_record {
    char *netns_key;  /* DEV-INO */
    char *netns_path; /* the namespace's path from config.json, or NULL */
    bool own_pidns;   /* the container had a pid namespace of its own (oci_bundle.own_pidns);
                         false in records of older hooks */
};

/* Creates the directories if needed and takes the global lock (blocking). */
int dj_state_open(struct dj_state *st, const char *dir, dj_error_t *err);
void dj_state_close(struct dj_state *st);

/* "DEV-INO"; malloc'd. */
char *dj_state_netns_key(const struct dj_netns *ns);
/* The namespace identity back from a key; -1 when KEY is not one. */
int dj_state_netns_key_parse(const char *key, dev_t *dev, ino_t *ino);

/* Per container. dj_state_read_container sets *found=false when there is no record. */
int dj_state_write_container(struct dj_state *st, const char *id,
                             const struct dj_container_record *rec, dj_error_t *err);
int dj_state_read_container(struct dj_state *st, const char *id, struct dj_container_record *rec,
                            bool *found, dj_error_t *err);
void dj_state_remove_container(struct dj_state *st, const char *id);
/* Whether containers/ID may exist under DIR, without opening the state (no lock, no mkdir):
 * false only when it surely does not. */
bool dj_state_container_recorded(const char *dir, const char *id);
void dj_container_record_free(struct dj_container_record *rec);

/* Per namespace. */
int dj_state_ns_create(struct dj_state *st, const char *key, const char *policy, dj_error_t *err);
/* *policy = NULL when the namespace has no state. */
int dj_state_ns_read_policy(struct dj_state *st, const char *key, char **policy, dj_error_t *err);
/* INIT: the member's init, or NULL when unknown. */
int dj_state_ns_add_member(struct dj_state *st, const char *key, const char *id,
                           const struct dj_proc_id *init, dj_error_t *err);
/* Calls FN for each member with its init (pid 0 when the record has none). */
void dj_state_ns_member_foreach(struct dj_state *st, const char *key,
                                void (*fn)(struct dj_state *, const char *key, const char *id,
                                           const struct dj_proc_id *init, void *),
                                void *data);
int dj_state_ns_write_bystanders(struct dj_state *st, const char *key,
                                 const struct dj_proc_id *list, size_t n, dj_error_t *err);
/* A malloc'd list (NULL, 0 when there is none). */
void dj_state_ns_read_bystanders(struct dj_state *st, const char *key, struct dj_proc_id **list,
                                 size_t *n);
/* Removes the member and returns how many remain (0 when the directory is gone). */
size_t dj_state_ns_remove_member(struct dj_state *st, const char *key, const char *id);
int dj_state_ns_write_pid(struct dj_state *st, const char *key, const char *daemon, pid_t pid,
                          dj_error_t *err);
pid_t dj_state_ns_read_pid(struct dj_state *st, const char *key, const char *daemon);
/* malloc'd path of netns/KEY/DAEMON.control. */
char *dj_state_ns_control_path(struct dj_state *st, const char *key, const char *daemon);
/* Creates netns/KEY/metrics (if needed), owned by UID:GID when we are root, mode 0755, and
 * returns an O_DIRECTORY descriptor of it for the daemons. */
#define DJ_STATE_METRICS_DIR "metrics"
int dj_state_ns_metrics_dir(struct dj_state *st, const char *key, uid_t uid, gid_t gid,
                            dj_error_t *err);

/* Removes netns/KEY and everything in it. */
void dj_state_ns_remove(struct dj_state *st, const char *key);

/* Calls FN for each namespace key (for garbage collection of dead jails). */
void dj_state_ns_foreach(struct dj_state *st, void (*fn)(struct dj_state *, const char *, void *),
                         void *data);
/* Calls FN for each container id with a record. */
void dj_state_container_foreach(struct dj_state *st,
                                void (*fn)(struct dj_state *, const char *, void *), void *data);

#endif
