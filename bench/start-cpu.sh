#!/bin/bash
# start-cpu.sh: the CPU time a jailed container start costs, by process, against the same
# bundle with the static do-nothing hook (bench/noop-hook.c). On 2 cores the jail's start is
# bound by CPU, not by waiting: time the hook stops waiting for is taken by the daemons' work
# beside the runtime (issue 12, docs/BENCHMARKS.md "CPU per container start"). ROUNDS runs of
# each kind, in blocks (noop, jailed, noop, jailed, ...; one block per kind per pass, PASSES
# passes), `runc run` of /usr/bin/true in a fresh namespace:
#   - the machine's busy CPU time (user+nice+system+irq+softirq of /proc/stat) per run, and the
#     wall time per run, for every block;
#   - then one more block of each kind under `perf sched record`: the CPU time (on-CPU runtime
#     from the scheduler's switches) per run of each command name (the hook, the daemons, runc)
#     and, with PER_PID=1, of each process (a jailed start's hook prestart, its namespace
#     thread, its poststop; a daemon's life from the spare's fork to its exit).
# Usage (root, from a build tree): top_builddir=$PWD ROUNDS=15 PASSES=3 ../bench/start-cpu.sh
# ROOTFS=usr (default) binds the host's /usr read-only in the bundle, as the e2e tests do;
# ROOTFS=own gives it a rootfs of its own with a static /usr/bin/true (bench/container-start.sh).
# Needs: runc, perf, cc with a static libc.
# shellcheck source=tests/e2e/world.sh
. "$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/world.sh"
world_require runc
world_require_build
command -v perf >/dev/null || tap_bail "perf is missing (Debian: linux-perf)"
world_up >/dev/null
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
ROUNDS=${ROUNDS:-15}
PASSES=${PASSES:-3}
NOOP=$W_TMP/noop-hook
cc -O2 -static -o "$NOOP" "$(dirname "$0")/noop-hook.c" || tap_bail "cannot build noop-hook statically"
ROOTFS=${ROOTFS:-usr}
case $ROOTFS in
    usr) rootfs_opts=() ;;
    own) rootfs_opts=(--no-usr) ;;
    *) tap_bail "ROOTFS is usr or own, not $ROOTFS" ;;
esac
bundle() {
    local b
    b=$(world_bundle "$W_ID-$1" "${@:2}" ${rootfs_opts[@]+"${rootfs_opts[@]}"} -- /usr/bin/true) &&
        { [ "$ROOTFS" = usr ] || world_static_true "$b"; } || tap_bail "cannot make a bundle"
    echo "$b"
}
declare -A BUNDLE
BUNDLE[jailed]=$(bundle jailed --hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true \
    --annotation "io.dnsjail.allow=api.example.com")
BUNDLE[noop]=$(bundle noop --hook "$NOOP" --hook-config "$W_CONF")
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
block() { # KIND: ROUNDS runs of it
    local i
    for i in $(seq "$ROUNDS"); do
        runc_cmd run --bundle "${BUNDLE[$1]}" "$W_ID-$1-$i" </dev/null >/dev/null 2>&1 ||
            tap_bail "runc run ($1) failed"
    done
}
block jailed # makes the spare pool and the keeper, warms the caches
block noop
tick_ms=$((1000 / $(getconf CLK_TCK)))
echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS runs per block"
for pass in $(seq "$PASSES"); do
    for kind in noop jailed; do
        c0=$(busy_ticks)
        t0=$(date +%s%N)
        block "$kind"
        t1=$(date +%s%N)
        c1=$(busy_ticks)
        printf 'pass %d %-6s wall %6.1f ms/run   busy CPU %6.1f ms/run\n' "$pass" "$kind" \
            "$(bc -l <<<"($t1 - $t0) / 1000000 / $ROUNDS")" "$(bc -l <<<"($c1 - $c0) * $tick_ms / $ROUNDS")"
    done
done
for kind in noop jailed; do
    data=$W_TMP/sched.$kind.data
    perf sched record -o "$data" >/dev/null 2>&1 &
    perf_pid=$!
    # perf writes its header once it records: wait for it rather than for a fixed time.
    wait_until 10 test -s "$data" || tap_bail "perf sched record did not start"
    block "$kind"
    kill -INT "$perf_pid"
    wait "$perf_pid"
    echo "## $kind: on-CPU time per run by command (perf sched latency), ms"
    perf sched latency -i "$data" 2>/dev/null |
        awk -v n="$ROUNDS" -F'|' '$1 ~ /(dnsjail|noop-hook|runc|true)/ {
            name = $1; gsub(/ /, "", name); sub(/:\([0-9]+\)$/, "", name); t = $2; sub(/ ms/, "", t)
            printf "  %-16s %7.2f\n", name, t / n }'
    if [ "${PER_PID:-0}" = 1 ]; then
        perf sched latency -p -i "$data" 2>/dev/null | awk -F'|' '$1 ~ /dnsjail/ {
            t = $2; sub(/ ms/, "", t); gsub(/ /, "", $1); printf "  %-28s %7.2f\n", $1, t }' |
            sort -t: -k2 -n
    fi
done
world_stop_spares >/dev/null 2>&1
