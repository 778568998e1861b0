#!/bin/bash
# container-start.sh: what the dnsjail hook adds to starting a container. hyperfine times
# `runc run` and `crun run` of a trivial container (`/usr/bin/true`) in three variants, side by
# side in one run:
#   plain     no hook at all
#   disabled  the hook runs (prestart and poststop) but the container says io.dnsjail.enable=false:
#             the cost of exec'ing the hook and reading the state and the bundle
#   jailed    the hook jails the container: nftables table in its namespace, dnsjail-dnsstub
#             and dnsjail-proxy started (and, at poststop, stopped)
# The target is under 3 ms added at the median (jailed - plain). Then, to show where the hook's
# time goes, one jailed run of each runtime under `strace -f -tt -T` (the hook and its
# children only, by a wrapper in place of the hook): per-process timelines, the slowest calls,
# the hook's time by system call (bench/strace-summary.py). Under strace the runtime's own run
# takes the hook timeout (10 s): strace follows the daemons, so it does not exit when the hook
# does, and the runtime kills it then. Only the traces count there.
#
# Everything runs in the e2e test world (tests/e2e/world.sh): the runtimes in a "host" network
# namespace, the container in a namespace of its own on a bridge to a fake internet; nothing is
# linked to the machine's real network. runc and crun are run the way the e2e tests run them.
#
# Usage: bench/container-start.sh [RUNS]   (default 30 per command, after 3 warm-up runs)
# Env: top_builddir, BENCH_RESULTS (see bench/lib.sh), PROFILE=0 to skip the strace part,
# PROFILE_ONLY=1 to skip hyperfine, TRACE_DIR=DIR to keep the raw strace files there.
# Needs: root, hyperfine, runc, crun, strace, nft, python3.

set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
RUNS=${1:-30}
PROFILE=${PROFILE:-1}
[ "$(id -u)" = 0 ] || die "needs root (namespaces, runtimes)"
bench_init container-start
bench_need hyperfine runc crun strace nsenter unshare python3
[ "$PROFILE" = 1 ] && bench_need strace

# The test world: its TAP helpers print to stdout, which is fine for a benchmark's log.
top_srcdir=$(cd "$bench_script_dir/.." && pwd)
# shellcheck source=tests/e2e/world.sh
. "$top_srcdir/tests/e2e/world.sh"
world_require_build
world_up >/dev/null
# world.sh's cleanup replaces ours: run both.
trap 'world_cleanup; bench_cleanup' EXIT
world_dnsjail_conf || die "cannot write the dnsjail config"
world_ctns bench || die "cannot make the container's namespace"
NS=$W_NS

# The exact commands hyperfine runs (no shell, no timeout wrapper: nothing but the runtime).
runtime_cmdline() { # RUNTIME ID BUNDLE
    case $1 in
        runc) echo "nsenter --net=$W_HOSTNS_PATH runc --root $W_TMP/runc run --bundle $3 $2" ;;
        # crun needs a pure cgroup2 view (see world.sh): a private mount namespace per run.
        crun) echo "nsenter --net=$W_HOSTNS_PATH unshare -m sh -c 'umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup && exec crun --root $W_TMP/crun --cgroup-manager=disabled run --bundle $3 $2'" ;;
    esac
}

declare -A BUNDLE
for variant in plain disabled jailed; do
    case $variant in
        plain) opts=() ;;
        disabled) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false) ;;
        jailed) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true) ;;
    esac
    BUNDLE[$variant]=$(world_bundle "start-$variant" --netns "$NS" "${opts[@]}" -- /usr/bin/true) ||
        die "cannot make bundle $variant"
done

bench_machine
echo "# $(runc --version | head -1), $(crun --version | head -1), $(hyperfine --version)"
echo "# hook: $W_HOOK; the container runs /usr/bin/true; $RUNS runs per command after 3 warm-ups"

# Check that each variant does what it says, once, before timing it.
for rt in runc crun; do
    for variant in plain disabled jailed; do
        id=bs-$rt-$variant
        W_CONTAINERS+=("$rt $id")
        eval "$(runtime_cmdline "$rt" "$id" "${BUNDLE[$variant]}")" </dev/null >"$WORK/check.out" 2>&1 ||
            die "$rt $variant does not run: $(cat "$WORK/check.out")"
    done
done

hf_args=()
[ "${PROFILE_ONLY:-0}" = 1 ] || for rt in runc crun; do
    for variant in plain disabled jailed; do
        hf_args+=(-n "$rt-$variant" "$(runtime_cmdline "$rt" "hf-$rt-$variant" "${BUNDLE[$variant]}")")
        W_CONTAINERS+=("$rt hf-$rt-$variant")
    done
done
[ "${PROFILE_ONLY:-0}" = 1 ] || {
echo
echo "## hyperfine"
# Through a shell (hyperfine subtracts its startup): the crun command line needs one anyway.
hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/hf.json" "${hf_args[@]}" ||
    die "hyperfine failed"

echo
echo "## medians (ms) and what the hook adds"
python3 - "$WORK/hf.json" "${BENCH_RESULTS:-}" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
record = open(sys.argv[2], "a") if len(sys.argv) > 2 and sys.argv[2] else None
for rt in ("runc", "crun"):
    med = {v: results["%s-%s" % (rt, v)]["median"] * 1000 for v in ("plain", "disabled", "jailed")}
    for v in ("plain", "disabled", "jailed"):
        r = results["%s-%s" % (rt, v)]
        print("%-14s median %7.2f ms  mean %7.2f ± %5.2f  min %7.2f  max %7.2f" % (
            "%s-%s" % (rt, v), med[v], r["mean"] * 1000, r["stddev"] * 1000,
            r["min"] * 1000, r["max"] * 1000))
        if record:
            record.write("start.%s.%s.median_ms %.2f\n" % (rt, v, med[v]))
    added = med["jailed"] - med["plain"]
    print("%s: the hook adds %.2f ms at the median (%.2fx plain), of which %.2f ms with the jail disabled; "
          "target < 3 ms: %s" % (rt, added, med["jailed"] / med["plain"], med["disabled"] - med["plain"],
                                 "met" if added < 3 else "NOT met"))
    if record:
        record.write("start.%s.added_ms %.2f\n" % (rt, added))
EOF
}

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
for rt in runc crun; do
    rm -f "$W_TMP"/out/strace.*
    b=$(world_bundle "prof-$rt" --netns "$NS" --hook "$W_TMP/libexec/hook-strace" \
        --hook-config "$W_CONF" --annotation io.dnsjail.enable=true -- /usr/bin/true) || die "bundle"
    W_CONTAINERS+=("$rt prof-$rt")
    start=$(date +%s%N)
    eval "$(runtime_cmdline "$rt" "prof-$rt" "$b")" </dev/null >/dev/null 2>&1
    end=$(date +%s%N)
    echo "### $rt (the runtime waited $(((end - start) / 1000000)) ms: for strace, see above)"
    for f in "$W_TMP"/out/strace.*; do
        python3 "$bench_script_dir/strace-summary.py" "$f"
        [ -z "${TRACE_DIR:-}" ] || { mkdir -p "$TRACE_DIR" && cp "$f" "$TRACE_DIR/$rt.${f##*/}"; }
    done
done
