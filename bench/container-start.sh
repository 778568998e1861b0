#!/bin/bash
# container-start.sh: what the dnsjail hook adds to starting a container, against the floor any
# hook costs (issue 12). A trivial container (`/usr/bin/true`) is started with `runc run` and
# `crun run` in four variants of the same bundle:
#   plain     no hook at all
#   noop      a statically linked do-nothing hook (bench/noop-hook.c, built here with -static)
#             at prestart and poststop: what a runtime pays to run any hook (fork, exec, the
#             state on stdin, the wait), the floor the jail is measured against
#   disabled  dnsjail-hook at prestart and poststop, io.dnsjail.enable=false: the hook's own
#             exec, its start (dynamic linking where the build could not link it statically) and
#             parsing (disabled - noop), twice per container
#   jailed    dnsjail-hook jails it with a small allow list: table, daemons, teardown
#   jailed-base   the same with the hook and daemons of another build (BASE_BUILDDIR, e.g.
#             main's): a paired before/after of a change in one run (its own state directory
#             and spare pool, the same log)
#   disabled-base  disabled with that build's hook: disabled - disabled-base is a change's
#             effect on a container the hook leaves alone (with it, the hook-alone part below
#             times that build's hook too, as base-disabled-prestart and -poststop)
#   jailed-trace  jailed with DNSJAIL_HOOK_TRACE (hook/trace.h): where the hook's time goes,
#             per phase, summarised by bench/hook-trace.py at the end (TRACE_OUT keeps the
#             raw file); jailed-trace - jailed is what tracing itself costs
# each in two kinds of network namespace:
#   fresh       the runtime creates the namespace (it dies with the container)
#   persistent  the bundle joins an existing namespace by path, as a pod member does (one per
#               variant, made once per run); jailed, every container is the namespace's only
#               member, so each sets its jail up and its poststop takes the table out again,
#               as a single-member pod's would: no jail survives from one round to the next
#               (checked after every run, with the daemons' exit)
# The targets (issue 12): jailed - noop <= 1 ms, disabled - noop <= 0.5 ms, as paired
# differences: in each round every variant runs once, in an order shuffled anew each round
# (not in blocks, as hyperfine would run them), and the differences are taken between runs of
# the same round. Each run is timed by bench/start-rounds.py with CLOCK_MONOTONIC around the
# whole runtime command, the same command shape for every variant of a runtime. Then:
#   - the hook alone, without a runtime: dnsjail-hook prestart and poststop with
#     io.dnsjail.enable=false against the noop hook, on the same state JSON on stdin;
#   - `podman run` (--runtime runc, as tests/e2e/world.sh runs it) of the same container,
#     plain, disabled and jailed, interleaved the same way, PODMAN_ROUNDS rounds (it is slow);
#   - PROFILE=1: one jailed run of each runtime with the hook under `strace -f -tt -T` (a
#     wrapper in the hook's place; per-process timelines, the slowest calls, the hook's time by
#     system call from bench/strace-summary.py). Under strace the runtime waits for the hook
#     timeout (10 s): strace follows the daemons, so it does not exit when the hook does. Only
#     the traces count there.
# A run that fails (the runtime's exit status, a timeout, the hook's log not saying what the
# variant should do, a daemon or a table left behind) stops the bench with its output: a
# broken round gives no figures.
#
# Everything runs in the e2e test world (tests/e2e/world.sh): the runtimes in a "host" network
# namespace, persistent container namespaces on a bridge to a fake internet, podman only with
# --network ns:PATH of that world (never its own networks); nothing is linked to the machine's
# real network. runc and crun are run the way the e2e tests run them.
#
# Usage: bench/container-start.sh [ROUNDS]   (default 30, after WARMUP rounds)
# Env:   top_builddir, BENCH_RESULTS (see bench/lib.sh; keys start.GROUP.VARIANT.{median,p25,
#        p75,min,max}_ms and start.GROUP.A_minus_B.{median,p25,p75}_ms, GROUP e.g. runc-fresh)
#        WARMUP=3          warm-up rounds (not counted)
#        PODMAN_ROUNDS=10  rounds of the podman part (0: skip it)
#        HOOK_ROUNDS=100   rounds of the hook-alone part (0: skip it)
#        RUNTIMES="runc crun"  NETNS_KINDS="fresh persistent"  VARIANTS="plain noop disabled jailed"
#                          (also jailed-base, disabled-base, jailed-trace)
#        BASE_BUILDDIR=DIR the build tree of jailed-base and disabled-base (built with the same
#                          configure prefix)
#        STATE_TMPFS=1     the state directories (this build's and the base's) on a tmpfs of
#                          their own, as /run is on a systemd host; by default they are in the
#                          test world's directory on disk (this machine's /run is on its disk too)
#        ROOTFS=usr        the runtimes' bundles bind the host's /usr read-only, as the e2e
#                          tests' do (the hook then walks /usr for mounted sockets, up to its
#                          bound of entries); ROOTFS=own: no /usr mount, the rootfs holds one
#                          static /usr/bin/true, as an engine's image rootfs holds its programs
#        TRACE_OUT=FILE    jailed-trace's raw trace (default: in the bench's work directory)
#        SEED=N            the shuffle's seed (default random, printed)
#        RAW_OUT=FILE      every run's time, "round group/variant ms" per line
#        SLOW_MS=5000      a run slower than this fails the bench (a runtime waiting for its
#                          10 s hook timeout, not a figure); ALLOW_SLOW=1 counts such runs in
#                          the figures instead and reports how many there were
#        PROFILE=1         the strace part (default 0); PROFILE_ONLY=1 only that;
#                          TRACE_DIR=DIR keeps the raw strace files there
# Needs: root, runc, crun, podman (for its part), cc with a static libc, nsenter, unshare, nft,
#        python3, strace (PROFILE=1).

set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=${1:-30}
WARMUP=${WARMUP:-3}
PODMAN_ROUNDS=${PODMAN_ROUNDS:-10}
HOOK_ROUNDS=${HOOK_ROUNDS:-100}
RUNTIMES=${RUNTIMES:-runc crun}
NETNS_KINDS=${NETNS_KINDS:-fresh persistent}
VARIANTS=${VARIANTS:-plain noop disabled jailed}
PROFILE=${PROFILE:-0}
ROOTFS=${ROOTFS:-usr}
PROFILE_ONLY=${PROFILE_ONLY:-0}
SEED=${SEED:-}
# Entries separated by a space: podman's --annotation splits its value at commas.
ALLOW="io.dnsjail.allow=api.example.com *.cdn.example.net"
[ "$(id -u)" = 0 ] || die "needs root (namespaces, runtimes)"
bench_init container-start
# shellcheck disable=SC2086 # lists of words
bench_need $RUNTIMES cc nsenter unshare nft python3
[ "$PODMAN_ROUNDS" -gt 0 ] && [ "$PROFILE_ONLY" != 1 ] && bench_need podman
[ "$PROFILE" = 1 ] && bench_need strace

# The test world: its TAP helpers print to stdout, which is fine for a benchmark's log.
top_srcdir=$(cd "$bench_script_dir/.." && pwd)
# shellcheck source=tests/e2e/world.sh
. "$top_srcdir/tests/e2e/world.sh"
world_require_build
world_up >/dev/null
# world.sh's cleanup replaces ours: run both.
trap 'world_cleanup; bench_cleanup' EXIT
# shellcheck disable=SC2119 # the defaults: no extra lines
world_dnsjail_conf || die "cannot write the dnsjail config"
# A failed run can leave a container behind under an id only the driver knew: delete whatever
# this run's runtime roots still hold (before the namespaces go, for the poststop hooks).
leftover_containers() {
    local id
    for id in $(runc --root "$W_TMP/runc" list -q 2>/dev/null); do runc_cmd delete -f "$id"; done
    for id in $(crun --root "$W_TMP/crun" list -q 2>/dev/null); do crun_cmd delete -f "$id"; done
}
world_on_cleanup leftover_containers

# jailed-base: the other build's hook, and copies of its daemons in a libexec of their own;
# its own state directory, so that neither build's hooks find the other's spares stale.
STATES=$W_STATE
EXES="$W_STUB_EXE:$(dirname "$W_STUB_EXE")/dnsjail-proxy"
if [[ " $VARIANTS " == *" jailed-base "* || " $VARIANTS " == *" disabled-base "* ]]; then
    [ -n "${BASE_BUILDDIR:-}" ] && [ -x "$BASE_BUILDDIR/hook/dnsjail-hook" ] ||
        die "jailed-base and disabled-base need BASE_BUILDDIR, a build tree with hook/dnsjail-hook"
    mkdir -p "$W_TMP/libexec-base" && chmod 755 "$W_TMP/libexec-base" || die "libexec-base"
    # Searchable as world.sh makes its own: a state directory the hook creates is 0700, and the
    # spares (user nobody) could not reach their pool's sockets in it: every base jail would
    # spawn its daemons.
    mkdir -p -m 755 "$W_TMP/state-base" || die "state-base"
    install -m 755 "$BASE_BUILDDIR/dnsstub/dnsjail-dnsstub" "$BASE_BUILDDIR/proxy/dnsjail-proxy" \
        "$W_TMP/libexec-base/" || die "cannot copy the base build's daemons"
    install -m 755 "$BASE_BUILDDIR/hook/dnsjail-hook" "$WORK/dnsjail-hook-base" || die "base hook"
    saved_conf=$W_CONF
    world_dnsjail_conf --file "$W_TMP/dnsjail-base.conf" "state-dir = $W_TMP/state-base" \
        "libexec-dir = $W_TMP/libexec-base" || die "cannot write the base build's config"
    BASE_CONF=$W_CONF
    W_CONF=$saved_conf
    STATES+=":$W_TMP/state-base"
    # Its spares are this run's processes too (world.sh stops only the pool of its own build).
    stop_base_spares() {
        local pid
        for pid in $(world_processes_of "$W_TMP/libexec-base/dnsjail-dnsstub" \
            "$W_TMP/libexec-base/dnsjail-proxy"); do kill -9 "$pid"; done
    }
    world_on_cleanup stop_base_spares
    EXES+=":$W_TMP/libexec-base/dnsjail-dnsstub:$W_TMP/libexec-base/dnsjail-proxy"
fi
if [ "${STATE_TMPFS:-0}" = 1 ]; then
    # world_cleanup unmounts whatever is mounted below the world's directory.
    for dir in ${STATES//:/ }; do
        mkdir -p "$dir" && mount -t tmpfs -o mode=0755,size=64m dnsjail-bench-state "$dir" ||
            die "cannot mount a tmpfs on $dir"
    done
fi
TRACE_OUT=${TRACE_OUT:-$WORK/hook-trace.txt}
: >"$TRACE_OUT"

cc -O2 -static -o "$WORK/noop-hook" "$bench_script_dir/noop-hook.c" ||
    die "cannot build noop-hook statically (libc.a missing? Debian: libc6-dev)"
printf '{"ociVersion":"1.0.2","id":"noop-selftest","status":"creating","pid":1,"bundle":"/"}' |
    "$WORK/noop-hook" || die "noop-hook does not exit 0"

case $ROOTFS in
    usr) rootfs_opts=() ;;
    own) rootfs_opts=(--no-usr) ;;
    *) die "ROOTFS is usr or own, not $ROOTFS" ;;
esac

declare -A NETNS
for variant in $VARIANTS; do
    world_ctns "$variant" || die "cannot make the persistent namespace for $variant"
    NETNS[$variant]=$W_NS
done

# BUNDLE[KIND-VARIANT]: the same config.json but for the hooks and the annotations.
declare -A BUNDLE
for kind in $NETNS_KINDS; do
    for variant in $VARIANTS; do
        case $variant in
            plain) opts=() ;;
            noop) opts=(--hook "$WORK/noop-hook" --hook-config "$W_CONF") ;;
            disabled) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false) ;;
            jailed) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true
                --annotation "$ALLOW") ;;
            jailed-base) opts=(--hook "$WORK/dnsjail-hook-base" --hook-config "$BASE_CONF"
                --annotation io.dnsjail.enable=true --annotation "$ALLOW") ;;
            disabled-base) opts=(--hook "$WORK/dnsjail-hook-base" --hook-config "$BASE_CONF"
                --annotation io.dnsjail.enable=false) ;;
            jailed-trace) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --hook-env
                "DNSJAIL_HOOK_TRACE=$TRACE_OUT" --annotation io.dnsjail.enable=true
                --annotation "$ALLOW") ;;
            *) die "unknown variant $variant" ;;
        esac
        case $kind in
            fresh) ;;
            persistent) opts+=(--netns "${NETNS[$variant]}") ;;
            *) die "unknown namespace kind $kind" ;;
        esac
        BUNDLE[$kind-$variant]=$(world_bundle "start-$kind-$variant" "${opts[@]}" \
            ${rootfs_opts[@]+"${rootfs_opts[@]}"} -- /usr/bin/true) || die "cannot make bundle $kind-$variant"
        if [ "$ROOTFS" = own ]; then
            world_static_true "${BUNDLE[$kind-$variant]}" || die "cannot put a static true in $kind-$variant"
        fi
    done
done

# The runtime commands, one word a line, as world.sh's runc_cmd and crun_cmd run them (without
# their timeout wrapper: start-rounds.py bounds each run itself). @ID@: the container's id.
# shellcheck disable=SC2016 # crun's $0 and $@ are the inner shell's
runtime_argv() { # RUNTIME BUNDLE
    case $1 in
        runc) printf '%s\n' nsenter "--net=$W_HOSTNS_PATH" runc --root "$W_TMP/runc" run --bundle "$2" @ID@ ;;
        # crun needs a pure cgroup2 view (see world.sh): a private mount namespace per run.
        crun) printf '%s\n' nsenter "--net=$W_HOSTNS_PATH" unshare -m sh -c \
            'umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup && exec crun --root "$0" --cgroup-manager=disabled "$@"' \
            "$W_TMP/crun" run --bundle "$2" @ID@ ;;
    esac
}

# A plan line for start-rounds.py: NAME CHECK NETNS STDIN ARGV..., tab-separated.
plan_line() { # NAME CHECK NETNS STDIN ARGV...
    local IFS=$'\t'
    echo "$*"
}

check_of() { # VARIANT
    case $1 in
        jailed*) echo jailed ;;
        disabled*) echo disabled ;;
        *) echo none ;;
    esac
}

# Runs PLAN with start-rounds.py; the daemons it watches for are this run's.
rounds() { # PLAN ROUNDS WARMUP
    W_LOG=$W_LOG W_STATE=$STATES W_DAEMON_EXES=$EXES \
        python3 "$bench_script_dir/start-rounds.py" "$1" "$2" "$3" ${SEED:+"$SEED"}
}

bench_machine
echo "# $(runc --version | head -1), $(crun --version | head -1)$(command -v podman >/dev/null && echo ", $(podman --version)")"
echo "# hook: $W_HOOK ($(file -b "$W_HOOK" | cut -d, -f1-2)); noop hook: static, reads its stdin to EOF"
echo "# the container runs /usr/bin/true ($([ "$ROOTFS" = own ] && echo "static, in its own rootfs" || echo "the host's /usr bound read-only")); jailed: io.dnsjail.enable=true, $ALLOW"
echo "# state directories: $([ "${STATE_TMPFS:-0}" = 1 ] && echo "on a tmpfs each" || echo "on $(df --output=fstype "$W_TMP" | tail -n 1)")"
echo "# uptime: $(uptime)"

if [ "$PROFILE_ONLY" != 1 ]; then
    # ---- runc and crun, every variant in every namespace kind, interleaved ------------------
    PLAN=$WORK/runtimes.plan
    : >"$PLAN"
    for rt in $RUNTIMES; do
        for kind in $NETNS_KINDS; do
            for variant in $VARIANTS; do
                ns=-
                [ "$kind" = persistent ] && ns=${NETNS[$variant]}
                mapfile -t argv < <(runtime_argv "$rt" "${BUNDLE[$kind-$variant]}")
                plan_line "$rt-$kind/$variant" "$(check_of "$variant")" "$ns" - "${argv[@]}" >>"$PLAN"
            done
        done
    done
    echo
    echo "## runtimes: $RUNTIMES; namespaces: $NETNS_KINDS; variants: $VARIANTS"
    rounds "$PLAN" "$ROUNDS" "$WARMUP" || die "the runtime rounds failed (above); no figures"
    if [ -s "$TRACE_OUT" ]; then
        echo
        echo "## jailed-trace: the hook's phases (bench/hook-trace.py $TRACE_OUT)"
        python3 "$bench_script_dir/hook-trace.py" "$TRACE_OUT" || die "hook-trace.py failed"
    fi
    echo "# uptime: $(uptime)"

    # ---- the hook alone: what one run of it costs, without a runtime --------------------------
    # The disabled bundle of either namespace kind (none when VARIANTS has no disabled).
    hook_bundle=${BUNDLE[fresh-disabled]:-${BUNDLE[persistent-disabled]:-}}
    if [ "$HOOK_ROUNDS" -gt 0 ] && [ -n "$hook_bundle" ]; then
        # Its state names this script as the container: a live process in the namespace the
        # hook runs in, which an unjailed container's hook only checks it may leave alone.
        printf '{"ociVersion":"1.0.2","id":"hook-alone","status":"creating","pid":%d,"bundle":"%s"}' \
            $$ "$hook_bundle" >"$WORK/state.json"
        PLAN=$WORK/hook.plan
        {
            plan_line hook-alone/noop none - "$WORK/state.json" "$WORK/noop-hook" prestart
            plan_line hook-alone/disabled-prestart none - "$WORK/state.json" "$W_HOOK" --config "$W_CONF" prestart
            plan_line hook-alone/disabled-poststop none - "$WORK/state.json" "$W_HOOK" --config "$W_CONF" poststop
            if [ -x "$WORK/dnsjail-hook-base" ]; then
                plan_line hook-alone/base-disabled-prestart none - "$WORK/state.json" \
                    "$WORK/dnsjail-hook-base" --config "$BASE_CONF" prestart
                plan_line hook-alone/base-disabled-poststop none - "$WORK/state.json" \
                    "$WORK/dnsjail-hook-base" --config "$BASE_CONF" poststop
            fi
        } >"$PLAN"
        echo
        echo "## the hook alone (no runtime): dnsjail-hook with io.dnsjail.enable=false against the noop hook"
        rounds "$PLAN" "$HOOK_ROUNDS" "$WARMUP" || die "the hook-alone rounds failed (above)"
    fi

    # ---- podman run ----------------------------------------------------------------------------
    if [ "$PODMAN_ROUNDS" -gt 0 ]; then
        # hooks.d files for the build tree's hook, for every container (the annotations decide);
        # `plain` gets an empty hooks directory.
        HOOKSD=$W_TMP/bench-hooks.d
        mkdir -p "$HOOKSD" "$W_TMP/podman/tmp"
        for stage in prestart poststop; do
            cat >"$HOOKSD/dnsjail-$stage.json" <<EOF
{"version": "1.0.0",
 "hook": {"path": "$W_HOOK", "args": ["dnsjail-hook", "--config", "$W_CONF", "$stage"], "timeout": 10},
 "when": {"always": true}, "stages": ["$stage"]}
EOF
        done
        PLAN=$WORK/podman.plan
        : >"$PLAN"
        for variant in plain disabled jailed; do
            [ -n "${NETNS[$variant]:-}" ] || world_ctns "$variant" || die "cannot make a namespace"
            NETNS[$variant]=${NETNS[$variant]:-$W_NS}
            rootfs=$W_TMP/bundles/podman-$variant-rootfs
            world_rootfs "$rootfs" || die "cannot make the podman rootfs"
            hooks=$HOOKSD
            opts=()
            case $variant in
                plain) hooks=$W_TMP/empty-hooks.d ;;
                disabled) opts=(--annotation io.dnsjail.enable=false) ;;
                jailed) opts=(--annotation io.dnsjail.enable=true --annotation "$ALLOW") ;;
            esac
            # world.sh's podman_cmd and run_podman, without the timeout wrapper and the probe.
            # The hook sees podman's own 64-hex id: start-rounds.py reads it from --cidfile.
            plan_line "podman/$variant" "$(check_of "$variant")" "${NETNS[$variant]}" - \
                nsenter "--net=$W_HOSTNS_PATH" podman --root "$W_TMP/podman/root" \
                --runroot "$W_TMP/podman/run" --tmpdir "$W_TMP/podman/tmp" --storage-driver vfs \
                --cgroup-manager cgroupfs --events-backend file --runtime runc --hooks-dir "$hooks" \
                run --rm --name @ID@ --cidfile "$W_TMP/out/@ID@.cid" --network "ns:${NETNS[$variant]}" \
                --dns 192.0.2.1 --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v /usr:/usr:ro \
                "${opts[@]}" --rootfs "$rootfs" /usr/bin/true >>"$PLAN"
        done
        echo
        echo "## podman run (--runtime runc, --network ns:PATH of the test world)"
        rounds "$PLAN" "$PODMAN_ROUNDS" "$WARMUP" || die "the podman rounds failed (above); no figures"
        echo "# uptime: $(uptime)"
    fi
fi

[ "$PROFILE" = 1 ] || exit 0
# ---- where the hook's time goes ------------------------------------------------------------
# A wrapper in the hook's place runs the real hook under strace, children included (so the
# daemons' startup until they report ready is in it). strace's output and the hook's own go
# to files: runc waits for EOF on the hook's stdout and stderr, which strace, following the
# daemons, would otherwise hold open.
cat >"$W_TMP/libexec/hook-strace" <<EOF
#!/bin/sh
exec strace -f -tt -T -o $W_TMP/out/strace.\$\$ $W_HOOK "\$@" >>$W_TMP/out/hook-strace.out 2>&1
EOF
chmod 755 "$W_TMP/libexec/hook-strace"
echo
echo "## profile: one jailed run of each runtime, the hook under strace (strace slows every call down)"
for rt in $RUNTIMES; do
    rm -f "$W_TMP"/out/strace.*
    b=$(world_bundle "prof-$rt" --netns "${NETNS[jailed]:-$W_NS}" --hook "$W_TMP/libexec/hook-strace" \
        --hook-config "$W_CONF" --annotation io.dnsjail.enable=true -- /usr/bin/true) || die "bundle"
    W_CONTAINERS+=("$rt prof-$rt")
    mapfile -t argv < <(runtime_argv "$rt" "$b")
    start=$(date +%s%N)
    "${argv[@]/@ID@/prof-$rt}" </dev/null >/dev/null 2>&1
    end=$(date +%s%N)
    echo "### $rt (the runtime waited $(((end - start) / 1000000)) ms: for strace, see above)"
    for f in "$W_TMP"/out/strace.*; do
        python3 "$bench_script_dir/strace-summary.py" "$f"
        [ -z "${TRACE_DIR:-}" ] || { mkdir -p "$TRACE_DIR" && cp "$f" "$TRACE_DIR/$rt.${f##*/}"; }
    done
done
