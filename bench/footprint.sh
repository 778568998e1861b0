#!/bin/bash
# footprint.sh: the memory dnsjail-dnsstub and dnsjail-proxy take per jailed container, as the
# hook starts them (runc, the e2e test world of tests/e2e/world.sh, nothing linked to the real
# network). The target is under 2 MiB each, idle.
#
#   idle    a jailed container runs `sleep`; VmRSS and Pss (smaps_rollup) of both daemons, and
#           where the resident memory is (program, libc, OpenSSL, other libraries, heap,
#           stacks, other anonymous mappings: RSS/PSS in KiB)
#   pool    what the spare pool costs at rest (lib/daemon/spare.h): each idle spare, VmRSS
#           and Pss, and their sum
#   load    the stub: dnsperf from inside the container's namespace (to 192.0.2.1:53, which the
#           jail redirects to the stub) for LOAD_SECONDS; the proxy: CONNECTIONS connections
#           from inside the namespace to port 443 of an internet address, held open without a
#           byte sent (the proxy is waiting for their ClientHello). VmRSS during the load, and
#           VmHWM (the peak) after it.
# For the proxy's memory with relayed connections (and 10,000 at once), see proxy-bench.sh.
#
# Usage: bench/footprint.sh [LOAD_SECONDS] [CONNECTIONS]   (defaults 5 and 1000)
# Env: top_builddir, BENCH_RESULTS (see bench/lib.sh).
# Needs: root, runc, dnsperf, python3.

set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
LOAD_SECONDS=${1:-5}
CONNECTIONS=${2:-1000}
[ "$(id -u)" = 0 ] || die "needs root (namespaces, runtimes)"
bench_init footprint
bench_need runc dnsperf python3 nsenter

top_srcdir=$(cd "$bench_script_dir/.." && pwd)
# shellcheck source=tests/e2e/world.sh
. "$top_srcdir/tests/e2e/world.sh"
world_require_build
world_up >/dev/null
trap 'world_cleanup; bench_cleanup' EXIT
world_dnsjail_conf || die "cannot write the dnsjail config"
world_ctns mem || die "cannot make the container's namespace"
NS=$W_NS

id=$W_ID-footprint
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=true -- /usr/bin/sleep 600) || die "cannot make the bundle"
W_CONTAINERS+=("runc $id")
runc_cmd run --bundle "$b" "$id" </dev/null >"$WORK/container.out" 2>&1 &
PIDS+=($!)

# The container's daemon of EXE-NAME: "--container-id" on its command line (the pool's spares
# run the same program).
daemon_pid() { # EXE-NAME
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$W_TMP/libexec/$1" ] &&
            tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qx -- --container-id &&
            { echo "${p#/proc/}"; return 0; }
    done
    return 1
}
stub_up() { daemon_pid dnsjail-dnsstub >/dev/null && daemon_pid dnsjail-proxy >/dev/null; }
wait_until 20 stub_up || die "the jailed container's daemons did not start: $(cat "$WORK/container.out")"
STUB_PID=$(daemon_pid dnsjail-dnsstub)
PROXY_PID=$(daemon_pid dnsjail-proxy)
sleep 1

bench_machine
echo "# a runc container jailed by the hook; stub pid $STUB_PID, proxy pid $PROXY_PID"
show() { # LABEL PID
    printf '%-22s VmRSS %6s KiB  Pss %6s KiB  VmHWM %6s KiB\n' "$1" "$(rss_kib "$2")" "$(pss_kib "$2")" \
        "$(awk '/^VmHWM:/ {print $2}' "/proc/$2/status")"
}
echo
echo "## idle"
for d in stub:$STUB_PID proxy:$PROXY_PID; do
    name=${d%%:*} pid=${d#*:}
    show "$name" "$pid"
    echo "    by mapping (RSS/PSS KiB): $(smaps_breakdown "$pid")"
    echo "    threads $(awk '/^Threads:/ {print $2}' "/proc/$pid/status"), descriptors $(ls "/proc/$pid/fd" | wc -l)"
    rss=$(rss_kib "$pid")
    echo "    target < 2048 KiB idle: $([ "$rss" -lt 2048 ] && echo met || echo "NOT met") (VmRSS $rss KiB)"
    bench_record "footprint.$name.idle.rss_kib" "$rss"
    bench_record "footprint.$name.idle.pss_kib" "$(pss_kib "$pid")"
done

echo
echo "## the spare pool at rest: its idle spares"
wait_until 10 eval '[ "$(world_spares | wc -l)" -ge 2 ]' || echo "    (fewer than two spares after 10 s)"
pool_rss=0 pool_pss=0
for pid in $(world_spares); do
    show "spare $(basename "$(readlink "/proc/$pid/exe")")" "$pid"
    pool_rss=$((pool_rss + $(rss_kib "$pid")))
    pool_pss=$((pool_pss + $(pss_kib "$pid")))
done
echo "    the pool: $(world_spares | wc -l) spares, VmRSS $pool_rss KiB (shared pages counted in each), Pss $pool_pss KiB"
bench_record footprint.pool.rss_kib "$pool_rss"
bench_record footprint.pool.pss_kib "$pool_pss"

echo
echo "## the stub under load: dnsperf -s 192.0.2.1 -l $LOAD_SECONDS -c 8 -q 200 from the container's namespace"
python3 - "$WORK/queries.txt" <<'EOF'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for _ in range(50000):
        f.write("%s.bench.example A\n" % "".join(rng.choice("abcdefghij0123456789") for _ in range(12)))
EOF
nsenter --net="$NS" dnsperf -s 192.0.2.1 -p 53 -d "$WORK/queries.txt" -l "$LOAD_SECONDS" -c 8 -q 200 \
    >"$WORK/dnsperf.out" 2>&1 &
load=$!
sleep "$(awk -v s="$LOAD_SECONDS" 'BEGIN {print s / 2}')"
show "stub, during the load" "$STUB_PID"
wait "$load"
echo "    dnsperf: $(awk '/Queries per second/ {print $4 " queries/s"}' "$WORK/dnsperf.out"), $(awk '/Queries lost/ {print $3 " lost"}' "$WORK/dnsperf.out")"
show "stub, after the load" "$STUB_PID"
echo "    by mapping (RSS/PSS KiB): $(smaps_breakdown "$STUB_PID")"
bench_record footprint.stub.load.hwm_kib "$(awk '/^VmHWM:/ {print $2}' "/proc/$STUB_PID/status")"

echo
echo "## the proxy with $CONNECTIONS connections waiting for their ClientHello"
nsenter --net="$NS" python3 - "$CONNECTIONS" >"$WORK/conns.out" 2>&1 <<'EOF' &
import resource, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
held = []
for i in range(n):
    s = socket.create_connection(("203.0.113.9", 443), timeout=5)
    held.append(s)
print("held", len(held), flush=True)
time.sleep(8)
EOF
holder=$!
PIDS+=("$holder")
wait_until 30 grep -q held "$WORK/conns.out" || echo "    could not hold them: $(tail -n 2 "$WORK/conns.out")"
sleep 1
show "proxy, $CONNECTIONS held" "$PROXY_PID"
echo "    by mapping (RSS/PSS KiB): $(smaps_breakdown "$PROXY_PID")"
busy=$(rss_kib "$PROXY_PID")
bench_record footprint.proxy.load.rss_kib "$busy"
wait "$holder"
show "proxy, after" "$PROXY_PID"
