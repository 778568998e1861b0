# shellcheck shell=bash
# engines.sh: a private containerd and dockerd for the suites that test real engines
# (docker.sh, containerd.sh), sourced after world.sh and started after world_up.
#
# Never the machine's services, never the real network:
#   - both daemons run in the world's "host" network namespace, so Docker's bridge
#     (198.18.0.1/24, further networks from 198.19.0.0/16) and its NAT lead only to the test
#     internet;
#   - both run in ONE private mount namespace (dockerd mounts the overlay root that runc then
#     uses, so they must share it), a slave of the machine's (the world's netns files made later
#     still appear in it) whose own mounts never reach the machine: a tmpfs over
#     /run/containerd and /run/docker, where containerd keeps its shim sockets, FIFOs and runc
#     state and dockerd its plugins whatever their roots say;
#   - root, state, exec-root, sockets and pidfiles under this run's directory; daemon.json's
#     deprecated-key-path keeps /etc/docker/key.json untouched; containerd's CRI plugin is off.
# Images are built here (`docker import` of a small root filesystem), there is no registry.
# Everything stops on exit (world_cleanup runs the registered steps): no process, mount or
# namespace outlives the run.
#
# Facts this file relies on (Debian 12: docker.io 20.10, containerd 1.6, runc 1.1):
#   - `ctr` talks to containerd's shims through FIFOs under /run/containerd/fifo: it must run in
#     the engines' mount namespace (engines_ctr does);
#   - crun refuses Docker's containers on this machine's hybrid cgroup layout: the engines use
#     runc;
#   - /usr/local/bin/docker may be a newer client than the daemon: E_DOCKER is Debian's.

E_DOCKER=/usr/bin/docker
E_DIR=
E_HOLDER=        # pid of the process that holds the engines' mount namespace
E_CONTAINERD_PID=
E_DOCKERD_PID=
E_MNTNS=         # our mount namespace (nsfs link text), for engines_gone
E_RUNC=
E_IMAGE=djt-rootfs

# Skips the whole script unless the engines and their clients are installed.
engines_require() {
    world_require containerd dockerd ctr runc iptables
    [ -x "$E_DOCKER" ] || tap_skip_all "missing $E_DOCKER (Debian's docker.io)"
    E_RUNC=$(command -v runc)
}

# The mount namespace both daemons share; the holder is a sleep that keeps it while they start.
engines_mountns() {
    E_DIR=$W_TMP/e
    mkdir -p "$E_DIR" && chmod 711 "$E_DIR" || return 1
    # Mount points only: empty directories on the machine, over which only our namespace mounts.
    mkdir -p /run/containerd /run/docker || return 1
    nsenter --net="$W_HOSTNS_PATH" unshare --mount --propagation slave sh -c '
        mount -t tmpfs -o mode=711 djt-containerd /run/containerd &&
        mount -t tmpfs -o mode=711 djt-docker /run/docker &&
        echo ready && exec sleep infinity' >"$E_DIR/holder.out" 2>&1 &
    E_HOLDER=$!
    world_on_cleanup engines_stop
    wait_until 10 grep -qs '^ready' "$E_DIR/holder.out" || {
        tap_diag_file "$E_DIR/holder.out"
        return 1
    }
    # The hook's namespace references would be mounted in here: world.sh's checks look here too.
    W_MOUNT_NAMESPACES+=("/proc/$E_HOLDER/ns/mnt")
    E_MNTNS=$(readlink "/proc/$E_HOLDER/ns/mnt")
}

# A command in the engines' namespaces (network and mount).
engines_enter() { nsenter --target "$E_HOLDER" --net --mount "$@"; }

engines_containerd() {
    local c=$E_DIR/containerd
    mkdir -p "$c/root" "$c/state" "$c/opt" || return 1
    cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$c/sock"
[ttrpc]
  address = "$c/sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
EOF
    E_CONTAINERD_SOCK=$c/sock
    # Not through engines_enter: a function run in the background is a subshell, and $! would
    # be the subshell's pid, not containerd's.
    nsenter --target "$E_HOLDER" --net --mount containerd --config "$c/config.toml" \
        >"$E_DIR/containerd.log" 2>&1 &
    E_CONTAINERD_PID=$!
    wait_until 30 engines_enter ctr --address "$E_CONTAINERD_SOCK" version >/dev/null 2>&1 || {
        tap_diag_file "$E_DIR/containerd.log" 20
        return 1
    }
}

# dockerd on our containerd. RUNTIMES_JSON: daemon.json's "runtimes" object.
engines_dockerd() { # RUNTIMES_JSON
    local d=$E_DIR/docker
    mkdir -p "$d/root" "$d/exec" || return 1
    E_DOCKER_SOCK=$d/sock
    cat >"$d/daemon.json" <<EOF
{
  "data-root": "$d/root",
  "exec-root": "$d/exec",
  "pidfile": "$d/pid",
  "hosts": ["unix://$E_DOCKER_SOCK"],
  "containerd": "$E_CONTAINERD_SOCK",
  "containerd-namespace": "djt-moby",
  "containerd-plugins-namespace": "djt-plugins",
  "deprecated-key-path": "$d/key.json",
  "bip": "198.18.0.1/24",
  "default-address-pools": [{"base": "198.19.0.0/16", "size": 24}],
  "dns": ["192.0.2.1"],
  "ipv6": false,
  "ip6tables": false,
  "userland-proxy": false,
  "storage-driver": "overlay2",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "log-driver": "json-file",
  "default-runtime": "runc",
  "runtimes": $1
}
EOF
    nsenter --target "$E_HOLDER" --net --mount dockerd --config-file "$d/daemon.json" \
        >"$E_DIR/dockerd.log" 2>&1 &
    E_DOCKERD_PID=$!
    wait_until 60 docker_cmd version >/dev/null 2>&1 || {
        tap_diag_file "$E_DIR/dockerd.log" 30
        return 1
    }
}

# Debian's docker client against our dockerd only.
docker_cmd() { timeout -k 5 120 env -u DOCKER_CONTEXT DOCKER_HOST="unix://$E_DOCKER_SOCK" "$E_DOCKER" "$@"; }
# ctr against our containerd, in its mount namespace (its FIFOs), in namespace djt.
engines_ctr() { timeout -k 5 120 nsenter --target "$E_HOLDER" --net --mount ctr --address "$E_CONTAINERD_SOCK" -n djt "$@"; }

# The image every Docker container here runs: world.sh's small root filesystem (the host's
# /usr is bound in at run time), imported, no registry.
engines_image() {
    local r=$E_DIR/image-rootfs
    world_rootfs "$r" >/dev/null || return 1
    tar -C "$r" -c . | docker_cmd import - "$E_IMAGE" >/dev/null
}

# containerd; with RUNTIMES_JSON also dockerd (with those runtimes) and its image. Call after
# world_up.
engines_up() { # [RUNTIMES_JSON]
    engines_mountns || tap_bail "cannot make the engines' mount namespace"
    engines_containerd || tap_bail "containerd did not start"
    [ $# -gt 0 ] || return 0
    engines_dockerd "$1" || tap_bail "dockerd did not start"
    engines_image || tap_bail "cannot import the test image"
}

# Stops dockerd (it removes its containers' tasks), then containerd, then the namespace holder,
# and waits for each: the mount namespace goes with the last of them.
engines_stop() {
    local pid
    if [ -n "$E_DOCKERD_PID" ]; then
        docker_cmd ps -aq 2>/dev/null | xargs -r timeout 60 env DOCKER_HOST="unix://$E_DOCKER_SOCK" "$E_DOCKER" rm -f >/dev/null 2>&1
    fi
    for pid in $E_DOCKERD_PID $E_CONTAINERD_PID; do
        if kill "$pid" 2>/dev/null && ! wait_until 30 pid_gone "$pid"; then
            kill -9 "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    # containerd's shims outlive containerd by design; ours are the ones in our namespace.
    engines_shims | xargs -r kill -9 2>/dev/null
    if [ -n "$E_HOLDER" ]; then
        kill "$E_HOLDER" 2>/dev/null
        wait "$E_HOLDER" 2>/dev/null
    fi
    E_DOCKERD_PID=''
    E_CONTAINERD_PID=''
    E_HOLDER=''
}
# (A child not yet waited for is a zombie, which kill -0 still finds: wait reaps it after.)
pid_gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# Pids of containerd shims started by our containerd (its address is on their command line).
engines_shims() {
    local p
    [ -n "$E_CONTAINERD_SOCK" ] || return 0
    for p in $(world_processes_of /usr/bin/containerd-shim-runc-v2); do
        tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$E_CONTAINERD_SOCK" && echo "$p"
    done
}

# Nothing of the engines is left: no process that names this run's engine directory on its
# command line (daemons, shims, runtimes), none in our mount namespace. By what the processes
# are, not by the pids recorded: a recorded pid can be a wrapper's, not the daemon's.
engines_gone() {
    local p
    for p in /proc/[0-9]*; do
        grep -qF -- "$E_DIR" "$p/cmdline" 2>/dev/null && { echo "left: ${p#/proc/}" >&2; return 1; }
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$E_MNTNS" ] && {
            echo "in our mount namespace: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" >&2
            return 1
        }
    done
    return 0
}

# ---- containers under containerd (ctr run) ------------------------------------------------
# containerd's runc options (BinaryName) and `ctr run --runc-binary` take a path, no arguments:
# the run's wrapper is a script that gives dnsjail-runtime this run's configuration and the
# build tree's hook (installed, it finds /etc/dnsjail.conf and its hook by itself).
engines_wrapper_script() { # FILE CONF [dnsjail-runtime OPTIONS...]
    local file=$1 conf=$2
    shift 2
    printf '#!/bin/sh\nexec %s --config %s --hook-binary %s --runtime-binary %s %s "$@"\n' \
        "${top_builddir:?}/runtime/dnsjail-runtime" "$conf" "$W_HOOK" "$E_RUNC" "$*" >"$file" &&
        chmod 755 "$file"
}

# world.sh's run_container for RUNTIME "containerd": `ctr run` of a rootfs (the host's /usr
# bound read-only, probe.py and http-probe.sh at /) in namespace NSPATH; JAIL yes runs it through
# $E_CTR_WRAPPER (engines_wrapper_script), no through plain runc.
E_CTR_WRAPPER=
run_container_containerd() { # containerd ID NSPATH JAIL ANNOTATIONS -- CMD...
    local id=$2 ns=$3 jail=$4 annotations=$5 a opts=()
    shift 5
    [ "${1:-}" = "--" ] && shift
    local rootfs=$W_TMP/bundles/$id-ctr-rootfs
    world_rootfs "$rootfs" >/dev/null || return 1
    for a in $annotations; do opts+=(--annotation "$a"); done
    if [ "$jail" = yes ]; then
        opts+=(--runc-binary "$E_CTR_WRAPPER")
    else
        opts+=(--runc-binary "$E_RUNC")
    fi
    W_CONTAINERS+=("containerd $id")
    # Every flag before the rootfs path: ctr takes what follows the id as the command.
    _run_capture "$id" engines_ctr run --rm --rootfs --with-ns "network:$ns" \
        --env PATH=/usr/local/bin:/usr/bin:/bin \
        --mount type=bind,src=/usr,dst=/usr,options=rbind:ro \
        --mount "type=bind,src=$W_E2E_DIR/probe.py,dst=/probe.py,options=rbind:ro" \
        --mount "type=bind,src=$W_E2E_DIR/http-probe.sh,dst=/http-probe.sh,options=rbind:ro" \
        "${opts[@]}" "$rootfs" "$id" "$@"
}
delete_force_containerd() { # ID
    engines_ctr task kill -s SIGKILL "$1"
    engines_ctr task delete -f "$1"
    engines_ctr container delete "$1"
}

# ---- containers under Docker --------------------------------------------------------------
# docker run of the test image with the host's /usr, probe.py and http-probe.sh bound in; leaves RUN_* as
# world.sh's runners do, RUN_CID the container's full id (what the runtime and the hook get).
# OPTIONS are docker run's (--runtime, --cap-drop, ...).
run_docker() { # NAME [docker run options] -- CMD...
    local name=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    [ "${1:-}" = "--" ] && shift
    W_CONTAINERS+=("docker $name")
    _run_capture "$name" docker_cmd run --name "$name" \
        -v /usr:/usr:ro -v "$W_E2E_DIR/probe.py:/probe.py:ro" \
        -v "$W_E2E_DIR/http-probe.sh:/http-probe.sh:ro" "${opts[@]}" "$E_IMAGE" "$@"
    # shellcheck disable=SC2034 # for the caller, as world.sh's runners leave it
    RUN_CID=$(docker_cmd inspect -f '{{.Id}}' "$name" 2>/dev/null)
    return 0
}
delete_force_docker() { docker_cmd rm -f "$1"; }
