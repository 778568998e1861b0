/* jail.c: a jail's life: the checks that refuse a container, creating a jail, joining one,
 * repairing one that lost a daemon, refusing an unjailed container in a jailed namespace, and
 * poststop's teardown. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "jail/control.h"
#include "jail/keeper.h"
#include "daemon/ctlserve.h"
#include "hook.h"
#include "jail/sockmount.h"
#include "trace.h"

static int read_bundle(struct hook *h, dj_error_t *err)
{
    cleanup_free char *path = NULL;
    cleanup_free char *text = NULL;
    cleanup_close int fd = -1;
    size_t len;

    if (asprintf(&path, "%s/config.json", h->state.bundle) < 0)
        return dj_error_make(err, ENOMEM, "config.json");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", path);
    if (read_all(fd, OCI_CONFIG_MAX_BYTES, &text, &len, path, err) < 0)
        return -1;
    if (oci_bundle_parse(text, len, &h->bundle, err) < 0)
        return dj_error_wrap(err, "%s", path);
    return 0;
}

/* Refuses what could undo the jail from inside: CAP_NET_ADMIN can delete our table,
 * CAP_NET_RAW can send frames that netfilter's output hooks never see. allow-cap-net-raw
 * polices AF_PACKET frames, not AF_XDP ones: those stay refused until the admin accepts them. */
static int check_capabilities(struct hook *h, dj_error_t *err)
{
    if ((h->bundle.caps_any & (1ULL << CAP_NET_ADMIN)) && !h->cfg.allow_cap_net_admin) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_ADMIN, which could remove the jail; drop it "
                      "(e.g. --cap-drop NET_ADMIN) or set allow-cap-net-admin in the config",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if ((h->bundle.caps_any & (1ULL << CAP_NET_RAW)) && !h->cfg.allow_cap_net_raw) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_RAW, whose raw packets bypass the jail; drop "
                      "it (e.g. --cap-drop NET_RAW, or drop-cap-net-raw in the config for "
                      "dnsjail-runtime to drop it) or set allow-cap-net-raw in the config",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if ((h->bundle.caps_any & (1ULL << CAP_NET_RAW)) && !h->cfg.allow_af_xdp &&
        dj_nft_af_xdp_available()) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_RAW and this kernel has AF_XDP sockets, whose "
                      "frames leave below the jail even with allow-cap-net-raw; drop it (e.g. "
                      "--cap-drop NET_RAW) or also set allow-af-xdp in the config to accept that",
                      h->state.id);
        return logged_refusal(h, err);
    }
    return 0;
}

/* One line in the admin's log for what the netdev table cannot stop and allow-af-xdp accepted
 * (docs/DESIGN.md): each jail that runs with that open says so. */
static void note_raw_limits(struct hook *h)
{
    if (!(h->bundle.caps_any & (1ULL << CAP_NET_RAW)) || !dj_nft_af_xdp_available())
        return;
    log_event(h, "raw_frames_limit",
              "the container holds CAP_NET_RAW and this kernel has AF_XDP sockets, whose frames "
              "leave below the jail's egress policing (allow-af-xdp accepts that); drop NET_RAW "
              "to close it");
}

/* What the state keeps of this container: its jail's key and what its bundle says of its
 * namespaces (read again at its poststop, when the bundle may be gone). */
static struct dj_container_record record_of(const struct hook *h, const char *key)
{
    return (struct dj_container_record){(char *)key, h->bundle.netns_path, h->bundle.own_pidns};
}

/* Records what already runs in the namespace before its jail exists, but the newcomer: a
 * pod's infra container, which no hook jails. The table covers it too while it stands; when
 * the last member leaves, these are the only processes that may be left behind for the table
 * to go (ns_holds_jailed). */
static int record_bystanders(struct dj_state *st, const char *key, const struct dj_netns *ns,
                             pid_t newcomer, dj_error_t *err)
{
    cleanup_free struct dj_proc_id *procs = NULL;
    size_t n = 0, kept = 0;

    if (dj_proc_netns_list(ns->dev, ns->ino, &procs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (procs[i].pid != newcomer)
            procs[kept++] = procs[i];
    return dj_state_ns_write_bystanders(st, key, procs, kept, err);
}

static int create_jail(struct hook *h, struct dj_state *st, const char *key,
                       const char *policy_text, const struct dj_netns *ns, int pidfd,
                       const struct dj_proc_id *init, dj_error_t *err)
{
    struct listeners listeners[N_DAEMONS];
    struct dj_container_record rec = record_of(h, key);

    memset(listeners, 0, sizeof(listeners));
    if (h->virt.on && virtual_map_create(h, err) < 0)
        return -1;
    if (in_namespace(ns, setup_in_container, h, listeners, err) < 0)
        return -1;
    trace_mark("ns_thread_end");
    if (dj_state_ns_create(st, key, policy_text, err) < 0)
        goto fail;
    trace_mark("state_ns_create");
    /* A namespace the runtime has just made (no path in config.json) holds only the
     * newcomer: nothing else can have entered it yet, so /proc is not scanned for others (a
     * missing list reads as empty). A namespace with a path may hold a pod's infra
     * container or anything else that joined it. */
    if (h->bundle.netns_path != NULL && record_bystanders(st, key, ns, init->pid, err) < 0)
        goto fail;
    trace_mark("bystanders");
    if (launch_daemons(h, st, key, listeners, pidfd, err) < 0)
        goto fail;
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        goto fail;
    trace_mark("state_member");
    virtual_close(h); /* the daemons have their own */
    log_event(h, "jail_started", key);
    return 0;

fail:
    listeners_close_all(listeners);
    stop_daemons(st, key); /* harmless for those that never started */
    /* The container will not start; leave its namespace as we found it. */
    in_namespace(ns, remove_table, h, NULL, NULL);
    dj_state_ns_remove(st, key);
    return -1;
}

/* The living members of a jail being repaired, as pidfds for the new daemons to watch. */
struct living_members {
    const struct dj_netns *ns;
    int pidfds[DJ_CTLSERVE_MAX_WATCHED];
    size_t n;
};

static void living_members_close(struct living_members *lm)
{
    for (size_t m = 0; m < lm->n; m++)
        close(lm->pidfds[m]);
}

#define cleanup_living_members __attribute__((cleanup(living_members_close)))

static void collect_member(struct dj_state *st, const char *key, const char *id,
                           const struct dj_proc_id *init, void *data)
{
    struct living_members *lm = data;
    char path[64];
    struct stat sb;
    int fd;

    if (init->pid <= 0 || lm->n == DJ_CTLSERVE_MAX_WATCHED)
        return;
    fd = (int)syscall(SYS_pidfd_open, init->pid, 0);
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init->pid);
    /* Checked after the pidfd is open: the pid cannot be reused while the pidfd holds it. */
    if (fd >= 0 && dj_proc_same(init) && stat(path, &sb) == 0 && sb.st_dev == lm->ns->dev &&
        sb.st_ino == lm->ns->ino) {
        lm->pidfds[lm->n++] = fd;
        return;
    }
    if (fd >= 0)
        close(fd);
    dj_state_ns_remove_member(st, key, id); /* gone; its poststop finds nothing to do */
}

static int repair_jail(struct hook *h, struct dj_state *st, const char *key,
                       const struct dj_netns *ns, int pidfd, const struct dj_proc_id *init,
                       dj_error_t *err)
{
    struct listeners listeners[N_DAEMONS];
    struct dj_container_record rec = record_of(h, key);
    cleanup_living_members struct living_members lm = {.ns = ns, .n = 0};
    char detail[128];

    memset(listeners, 0, sizeof(listeners));
    /* Both daemons start again: the survivor shares the virtual name map with the dead one,
     * and only a new pair can share a new map. */
    stop_daemons(st, key);
    dj_state_ns_member_foreach(st, key, collect_member, &lm);
    if ((h->virt.on && virtual_map_create(h, err) < 0) ||
        in_namespace(ns, rebind_in_container, h, listeners, err) < 0 ||
        launch_daemons(h, st, key, listeners, pidfd, err) < 0)
        goto fail;
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        for (size_t m = 0; m < lm.n; m++)
            if (control == NULL ||
                dj_control_watch(control, lm.pidfds[m], CONTROL_TIMEOUT_MS, err) < 0)
                goto fail;
    }
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        goto fail;
    virtual_close(h);
    snprintf(detail, sizeof(detail), "%s: daemons restarted for %zu living member(s)", key, lm.n);
    log_event(h, "jail_repaired", detail);
    return 0;
fail:
    listeners_close_all(listeners);
    stop_daemons(st, key);
    /* The state and the table stay: the members still run, closed, and the next container to
     * join tries again. */
    return dj_error_wrap(err, "the jail of this network namespace lost a daemon and could not be "
                              "repaired; its members stay closed");
}

static int join_existing(struct hook *h, struct dj_state *st, const char *key,
                         const struct dj_netns *ns, int pidfd, const struct dj_proc_id *init,
                         dj_error_t *err)
{
    struct dj_container_record rec = record_of(h, key);

    /* gc_namespace kept this jail although a daemon is gone: members still run in it. */
    if (!jail_alive(st, key))
        return repair_jail(h, st, key, ns, pidfd, init, err);
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        if (control == NULL)
            return dj_error_make(err, ENOMEM, "control path");
        if (dj_control_watch(control, pidfd, CONTROL_TIMEOUT_MS, err) < 0)
            return dj_error_wrap(err, "joining the jail of this network namespace");
    }
    note_jail_daemons(h, st, key);
    /* Someone may have flushed the table; the policy says it must be there. */
    if (in_namespace(ns, ensure_table, h, NULL, err) < 0)
        return -1;
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        return -1;
    log_event(h, "jail_joined", key);
    return 0;
}

/* A container that is not to be jailed must not share a namespace that is: the table covers
 * the whole namespace, so it would run jailed against its annotations, and the jail's last
 * member leaving would open the namespace under a container that keeps running. It is
 * refused; the jail and its members are not touched. Asked of the state and of the namespace
 * itself (a jail held for processes that outlived its members has no member to show). */
static int refuse_unjailed_joiner(struct hook *h, dj_error_t *err)
{
    cleanup_close int pidfd = -1;
    cleanup_free char *key = NULL;
    cleanup_free char *policy = NULL;
    cleanup_netns struct dj_netns host = {-1, 0, 0};
    cleanup_netns struct dj_netns ns = {-1, 0, 0};
    cleanup_state struct dj_state st = {NULL, -1};
    bool table = false;
    int r;

    if (!h->bundle.have_netns)
        return 0; /* the host's namespace, which no jail can hold */
    /* A namespace the runtime has just made for this container holds nothing of anyone's:
     * nothing to look up (the cheap path of a container that carries the hook unjailed). */
    if (h->bundle.netns_path == NULL)
        return 0;
    if (dj_netns_open_pid(h->state.pid, &ns, &pidfd, err) < 0 || dj_netns_open_self(&host, err) < 0)
        return -1;
    if (dj_netns_same(&ns, &host))
        return 0;
    key = dj_state_netns_key(&ns);
    if (key == NULL)
        return dj_error_make(err, ENOMEM, "namespace key");
    if (dj_state_open(&st, h->cfg.state_dir, err) < 0 ||
        dj_state_ns_read_policy(&st, key, &policy, err) < 0 ||
        (policy == NULL && in_namespace(&ns, table_exists, h, &table, err) < 0))
        return -1;
    if ((policy != NULL || table) && !(policy != NULL && jail_alive(&st, key)) &&
        !ns_holds_jailed(&st, key, h->state.pid, NULL)) {
        /* What is left of a jail with nothing left to jail (held for processes that have
         * exited since, or a table without state): cleared, as the next jailed container
         * would. */
        forget_jail(&st, key);
        r = in_namespace(&ns, remove_table, h, NULL, err);
        if (r == 0)
            log_event(h, "jail_cleared", key);
        return r;
    }
    if (policy != NULL || table) {
        dj_error_make(err, 0,
                      "container %s is not to be jailed (io.dnsjail.enable=false, or the "
                      "config's default-enable) but its network namespace is jailed (conflict); "
                      "give it the io.dnsjail.* annotations of that namespace's containers or a "
                      "network namespace of its own",
                      h->state.id);
        return logged_refusal(h, err);
    }
    return 0;
}

/* containerd copies a pod's annotations into config.json only for those its runtime handler
 * lists in pod_annotations: a Kubernetes container (containerd's io.kubernetes.cri.*) that
 * reaches us with none of ours most likely lost them there, and gets default-enable with no
 * allow list whatever the pod says. Said once per container, in the admin's log. */
static void note_missing_pod_annotations(struct hook *h, const struct oci_annotation *ann,
                                         size_t n_ann)
{
    bool kubernetes = false;

    if (h->profile != NULL)
        return;
    for (size_t i = 0; i < n_ann; i++) {
        if (ann[i].key == NULL)
            continue;
        if (strncasecmp(ann[i].key, DJ_ANNOTATION_PREFIX, strlen(DJ_ANNOTATION_PREFIX)) == 0)
            return;
        kubernetes = kubernetes || strncmp(ann[i].key, "io.kubernetes.cri.", 18) == 0;
    }
    if (kubernetes)
        log_event(h, "no_pod_annotations",
                  "a Kubernetes container without any io.dnsjail.* annotation: default-enable "
                  "applies with no allow list; if its pod is annotated, the runtime handler "
                  "lacks pod_annotations = [\"io.dnsjail.*\"] (dnsjail setup containerd)");
}

/* The keeper (lib/jail/keeper.h): after the jail's own table and daemons. That table paid
 * for the kernel's hook patching already if it is the host's first, so the keeper's hooks
 * come cheap; making it (~2.2 ms, mostly the new namespace: docs/BENCHMARKS.md) is paid once,
 * by the first jailed container after boot, and every later one does one statfs.
 * Never fails the jail: without a keeper a start only pays that patching again. Where it
 * cannot be (rootless: no mount that outlives us; a mount that fails) it says so once per
 * state directory, by the marker "unavailable" beside the pin. */
static void keep_hooks_on(struct hook *h)
{
    cleanup_free char *pin = dj_keeper_pin_path(h->cfg.state_dir);
    cleanup_free char *dir = NULL;
    cleanup_free char *marker = NULL;
    dj_error_t err = NULL;
    bool created = false;
    int fd = -1;

    if (pin == NULL || dj_keeper_present(pin))
        return;
    if (!h->rootless.active && dj_keeper_ensure(pin, &created, &err) == 0) {
        if (created)
            log_event(h, "keeper_created", pin);
        trace_mark("keeper");
        return;
    }
    if (h->rootless.active)
        dj_error_make(&err, 0, "rootless: no mount of ours outlives the user's namespace");
    if (asprintf(&dir, "%s-keeper", h->cfg.state_dir) < 0)
        dir = NULL;
    else if (asprintf(&marker, "%s/unavailable", dir) < 0)
        marker = NULL;
    if (marker != NULL) {
        (void)mkdir(dir, 0755);
        fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    }
    if (fd >= 0)
        close(fd);
    if (fd >= 0 || errno != EEXIST)
        log_event(h, "keeper_unavailable", dj_error_msg(&err));
    dj_error_release(&err);
}

int jail_start(struct hook *h, dj_error_t *err)
{
    cleanup_close int pidfd = -1;
    cleanup_free char *key = NULL;
    cleanup_free char *policy_text = NULL;
    cleanup_free char *existing_policy = NULL;
    cleanup_netns struct dj_netns host = {-1, 0, 0};
    cleanup_netns struct dj_netns ns = {-1, 0, 0};
    cleanup_state struct dj_state st = {NULL, -1};
    struct dj_proc_id init;
    const struct oci_annotation *ann;
    size_t n_ann;

    if (read_bundle(h, err) < 0)
        return -1;
    trace_mark("bundle");
    ann = h->state.have_annotations ? h->state.annotations : h->bundle.annotations;
    n_ann = h->state.have_annotations ? h->state.n_annotations : h->bundle.n_annotations;
    if (dj_policy_build(ann, n_ann, &h->cfg, h->profile, &h->policy, err) < 0) {
        log_event(h, "jail_refused", dj_error_msg(err));
        return -1;
    }
    note_missing_pod_annotations(h, ann, n_ann);
    trace_mark("policy");
    if (!h->policy.enable)
        return refuse_unjailed_joiner(h, err);
    if (dj_nft_networks_from_rules(h->policy.rules, h->policy.n_rules, &h->networks, &h->n_networks,
                                   err) < 0 ||
        virtual_prepare(h, err) < 0)
        return logged_refusal(h, err);
    if (h->cfg.container_dns != NULL) {
        /* Checked at load: one address or the other. */
        h->cdns.family = AF_INET;
        if (inet_pton(AF_INET, h->cfg.container_dns, h->cdns.addr) != 1) {
            h->cdns.family = AF_INET6;
            if (inet_pton(AF_INET6, h->cfg.container_dns, h->cdns.addr) != 1) {
                dj_error_make(err, 0, "container-dns: \"%s\" is not an address",
                              h->cfg.container_dns);
                return logged_refusal(h, err);
            }
        }
        h->cdns.prefix = h->cdns.family == AF_INET ? 32 : 128;
    }
    if (!h->bundle.have_netns) {
        dj_error_make(err, 0,
                      "container %s shares the host's network namespace and cannot be jailed; "
                      "give it its own (no --network host)",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if (check_capabilities(h, err) < 0)
        return -1;
    note_raw_limits(h);
    if (dj_sockmount_check(&h->bundle, h->state.bundle, h->cfg.allow_socket_mounts, err) < 0) {
        dj_error_wrap(err, "container %s", h->state.id);
        return logged_refusal(h, err);
    }
    trace_mark("sockmount_check");
    if (resolve_forward_upstreams(h, err) < 0 || resolve_audit_upstreams(h, err) < 0)
        return logged_refusal(h, err);
    trace_mark("upstreams");
    if (dj_netns_open_pid(h->state.pid, &ns, &pidfd, err) < 0 || dj_netns_open_self(&host, err) < 0)
        return -1;
    if (dj_netns_same(&ns, &host)) {
        dj_error_make(err, 0,
                      "container %s is in the host's network namespace and cannot be jailed",
                      h->state.id);
        return logged_refusal(h, err);
    }
    policy_text = dj_policy_canonical(&h->policy);
    key = dj_state_netns_key(&ns);
    if (policy_text == NULL || key == NULL)
        return dj_error_make(err, ENOMEM, "policy");
    if (dj_state_open(&st, h->cfg.state_dir, err) < 0)
        return -1;
    if (dj_proc_identify(h->state.pid, &init) < 0)
        return dj_error_make(err, 0, "container process %d is gone", (int)h->state.pid);
    trace_mark("netns_state_open");
    dj_state_ns_foreach(&st, gc_namespace, &init.pid);
    trace_mark("gc");
    if (dj_state_ns_read_policy(&st, key, &existing_policy, err) < 0)
        return -1;
    if (existing_policy != NULL && strcmp(existing_policy, policy_text) != 0) {
        dj_error_make(err, 0,
                      "container %s: its network namespace is already jailed with a different "
                      "policy (conflict); give containers that share a namespace the same "
                      "io.dnsjail.* annotations",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if (existing_policy != NULL)
        return join_existing(h, &st, key, &ns, pidfd, &init, err);
    if (create_jail(h, &st, key, policy_text, &ns, pidfd, &init, err) < 0)
        return -1;
    keep_hooks_on(h);
    return 0;
}

/* The last member left, but the namespace still holds a process that is neither a bystander
 * nor gone (a member's child that outlived it in a shared pid namespace, a member whose record
 * was lost): the table stays, and so does the state, so that a newcomer repairs this jail and
 * an unjailed one is refused. The daemons go: what they watched has exited.
 * Not asked for a namespace the runtime made for a container with a pid namespace of its own:
 * the kernel ended every process of the container with its init, so only a process that
 * entered from outside (nsenter) can hold the namespace, and the table stays there for as long
 * as one does whatever is decided here (we never delete it from such a namespace); a newcomer
 * that joins through it is still refused or jailed anew (refuse_unjailed_joiner looks then).
 * The /proc scan this saves costs every container's end ~16 µs per process of the host. */
static bool jail_held(struct hook *h, struct dj_state *st, const struct dj_container_record *rec)
{
    const char *key = rec->netns_key;
    char detail[160];
    pid_t pid;

    if ((rec->netns_path == NULL && rec->own_pidns) || !ns_holds_jailed(st, key, 0, &pid))
        return false;
    stop_daemons(st, key);
    snprintf(detail, sizeof(detail), "%s: pid %d still runs in the namespace; the table stays", key,
             (int)pid);
    log_event(h, "jail_held", detail);
    return true;
}

/* Takes this container out of its jail; the last member out takes the jail down. */
static void leave_jail(struct hook *h, dj_error_t *err)
{
    cleanup_state struct dj_state st = {NULL, -1};
    cleanup_record struct dj_container_record rec = {NULL, NULL, false};
    bool found = false;

    /* Most containers that were never jailed have no record: asked without the lock, which
     * is safe because only this container's own prestart writes it, and that has ended. */
    if (!dj_state_container_recorded(h->cfg.state_dir, h->state.id))
        return;
    trace_mark("record_check");
    if (dj_state_open(&st, h->cfg.state_dir, err) < 0 ||
        dj_state_read_container(&st, h->state.id, &rec, &found, err) < 0 || !found)
        return;
    trace_mark("state_read");
    if (dj_state_ns_remove_member(&st, rec.netns_key, h->state.id) == 0 &&
        (trace_mark("remove_member"), !jail_held(h, &st, &rec))) {
        trace_mark("held_check");
        /* A namespace the runtime made for the container (no path) dies with it, and the
         * table with the namespace: nothing to delete, and the daemons exit on their own when
         * the last pidfd they watch does (let_daemons_go only makes sure they did). */
        if (rec.netns_path == NULL)
            let_daemons_go(&st, rec.netns_key);
        else
            stop_daemons(&st, rec.netns_key);
        trace_mark("daemons_stop");
        /* A namespace with a path outlives the container: take our table out of it. */
        if (rec.netns_path != NULL) {
            cleanup_netns struct dj_netns ns = {-1, 0, 0};
            cleanup_free char *key = NULL;
            int nft_socket = -1;

            /* The table is deleted when the call returns; closing its socket then waits for
             * an RCU grace period, which the runtime need not wait for. */
            if (dj_netns_open_path(rec.netns_path, &ns, NULL) == 0 &&
                (key = dj_state_netns_key(&ns)) != NULL && strcmp(key, rec.netns_key) == 0)
                in_namespace(&ns, remove_table_keep, h, &nft_socket, err);
            dj_nft_close_in_background(nft_socket);
            trace_mark("table_remove");
        }
        dj_state_ns_remove(&st, rec.netns_key);
        trace_mark("state_ns_remove");
        log_event(h, "jail_stopped", rec.netns_key);
    }
    dj_state_remove_container(&st, h->state.id);
    trace_mark("state_container_remove");
}

/* poststop: best effort, always succeeds; problems are reported but never block teardown. */
void jail_stop(struct hook *h)
{
    cleanup_error dj_error_t err = NULL;

    leave_jail(h, &err);
    if (err != NULL)
        fprintf(stderr, "dnsjail: poststop of %s: %s\n", h->state.id, dj_error_msg(&err));
}
