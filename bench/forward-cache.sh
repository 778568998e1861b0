#!/bin/bash
# forward-cache.sh: cached forward-zone answers per second, dnsjail-dnsstub against dnsmasq
# with caching on, same upstream, same names, same run, on loopback.
#
#   upstream  dnsmasq answering every name under bench.example with 192.0.2.10, TTL 3600
#             (--address, --local-ttl), so every answer can be cached for the whole run
#   stub      dnsjail-dnsstub --forward bench.example=127.0.0.1:UP --forward-rate 0, the
#             default rate-limited log: what production runs for a forward zone
#   dnsmasq   dnsmasq --server=127.0.0.1#UP --cache-size=10000 (no --log-queries)
# Both are warmed up first (every name asked once), so what is measured is the cache path:
# the upstream is idle during the measurement (its query count is printed to show it).
# Load: dnsperf (one datagram per system call) and bench/dns-blast.c (batched, saturates the
# server) over NAMES distinct names, pinned to CPU 0; servers pinned to CPU 1. Rounds alternate
# the order; medians reported, with answered queries per server CPU-second.
#
# Usage: bench/forward-cache.sh [ROUNDS] [SECONDS] [NAMES]   (defaults 5, 8, 1000)
# Env: STUB (default $top_builddir/dnsstub/dnsjail-dnsstub), PORT first of three (15411).
# Needs: dnsperf, dnsmasq, dig, python3, cc, taskset; root only for --user nobody.

set -u
script_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$script_dir/..}
STUB=${STUB:-$top_builddir/dnsstub/dnsjail-dnsstub}
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-8}
NAMES=${3:-1000}
PORT=${PORT:-15411}
UP_PORT=$((PORT + 2))
CLK_TCK=$(getconf CLK_TCK)

die() {
    echo "forward-cache.sh: $*" >&2
    exit 1
}
for cmd in dnsperf dnsmasq dig python3 cc taskset; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is not installed"
done
[ -x "$STUB" ] || die "$STUB is not built (set STUB= or top_builddir=)"
if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU="taskset -c 1"
    CLIENT_CPU="taskset -c 0"
else
    SERVER_CPU=""
    CLIENT_CPU=""
fi
AS_USER=()
[ "$(id -u)" = 0 ] && AS_USER=(--user nobody)

WORK=$(mktemp -d /tmp/forward-cache.XXXXXX) || die "no temporary directory"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$WORK/dns-blast" "$script_dir/dns-blast.c" || die "cannot build dns-blast"

# dnsperf's names: NAMES of them under the zone, repeated (dns-blast draws its own NAMES).
python3 - "$WORK/queries.txt" "$NAMES" <<'EOF'
import random, sys
rng = random.Random(20261128)
chars = "abcdefghijklmnopqrstuvwxyz0123456789"
names = ["%s.bench.example" % "".join(rng.choice(chars) for _ in range(12)) for _ in range(int(sys.argv[2]))]
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write("%s A\n" % names[i % len(names)])
EOF

dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --address=/bench.example/192.0.2.10 \
    --local-ttl=3600 --port="$UP_PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --pid-file= --log-queries --log-facility="$WORK/upstream.log" &
PIDS+=("$!")
declare -A SERVER_PID SERVER_PORT
start_server() { # NAME PORT COMMAND...
    local name=$1 port=$2
    shift 2
    $SERVER_CPU "$@" &
    SERVER_PID[$name]=$!
    SERVER_PORT[$name]=$port
    PIDS+=("$!")
}
start_server stub "$PORT" "$STUB" --listen "127.0.0.1:$PORT" "${AS_USER[@]}" \
    --log-file "$WORK/stub.log" --container-id bench \
    --forward "bench.example=127.0.0.1:$UP_PORT" --forward-rate 0 --forward-cache-entries 10000
start_server dnsmasq "$((PORT + 1))" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts \
    --server="127.0.0.1#$UP_PORT" --cache-size=10000 --port="$((PORT + 1))" \
    --listen-address=127.0.0.1 --bind-interfaces --pid-file=
sleep 1
for name in stub dnsmasq; do
    answer=$(dig @127.0.0.1 -p "${SERVER_PORT[$name]}" +short +time=2 check.bench.example A)
    [ "$answer" = 192.0.2.10 ] || die "$name does not forward (got '$answer')"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
upstream_queries() { grep -c 'query\[' "$WORK/upstream.log"; }

# Warm-up: every name of both load generators once through each server's cache.
for name in stub dnsmasq; do
    $CLIENT_CPU dnsperf -s 127.0.0.1 -p "${SERVER_PORT[$name]}" -d "$WORK/queries.txt" \
        -n 1 -c 1 -q 100 >/dev/null 2>&1
    $CLIENT_CPU "$WORK/dns-blast" 127.0.0.1 "${SERVER_PORT[$name]}" 1 64 "$NAMES" >/dev/null
done
warm=$(upstream_queries)

measure() { # NAME TOOL
    local name=$1 tool=$2 pid=${SERVER_PID[$1]} port=${SERVER_PORT[$1]} before after qps out
    before=$(cpu_ticks "$pid")
    if [ "$tool" = dnsperf ]; then
        out=$($CLIENT_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" \
            -l "$SECONDS_PER_RUN" -c 8 -q 500 2>&1)
        qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
        answered=$(awk '/Queries completed/ {print $3}' <<<"$out")
    else
        out=$($CLIENT_CPU "$WORK/dns-blast" 127.0.0.1 "$port" "$SECONDS_PER_RUN" 256 "$NAMES")
        qps=$(awk '{print $10}' <<<"$out")
        answered=$(awk '{print $6}' <<<"$out")
    fi
    after=$(cpu_ticks "$pid")
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
    per_cpu=$(awk -v a="$answered" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? a / c : 0)}')
    share=$(awk -v c="$cpu" -v s="$SECONDS_PER_RUN" 'BEGIN {printf "%.0f", 100 * c / s}')
    printf '%-8s %-8s qps %8.0f  server-cpu %5ss (%3s%%)  answered/cpu-s %8s\n' "$name" \
        "$tool" "$qps" "$cpu" "$share" "$per_cpu"
    echo "$name $tool $qps $per_cpu $share" >>"$WORK/results"
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) CPUs: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "# $ROUNDS rounds of ${SECONDS_PER_RUN}s per server and tool, $NAMES names; servers ${SERVER_CPU:-unpinned}, load ${CLIENT_CPU:-unpinned}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
order=(stub dnsmasq)
for round in $(seq "$ROUNDS"); do
    echo "## round $round"
    for tool in dnsperf blast; do
        for name in "${order[@]}"; do
            measure "$name" "$tool"
        done
    done
    order=("${order[@]:1}" "${order[0]}")
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# upstream queries: $warm after the warm-up, $(upstream_queries) at the end"

median() { # NAME TOOL COLUMN
    awk -v n="$1" -v t="$2" -v c="$3" '$1 == n && $2 == t {print $c}' "$WORK/results" |
        sort -n | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "## medians"
printf '%-8s %14s %16s %14s %16s\n' server "dnsperf qps" "dnsperf q/cpu-s" "blast qps" "blast q/cpu-s"
for name in stub dnsmasq; do
    printf '%-8s %14.0f %16.0f %14.0f %16.0f\n' "$name" "$(median "$name" dnsperf 3)" \
        "$(median "$name" dnsperf 4)" "$(median "$name" blast 3)" "$(median "$name" blast 4)"
done
echo
echo "## ratios stub / dnsmasq"
for tool in dnsperf blast; do
    echo "$tool: qps $(ratio "$(median stub "$tool" 3)" "$(median dnsmasq "$tool" 3)")x," \
        "queries per CPU-second $(ratio "$(median stub "$tool" 4)" "$(median dnsmasq "$tool" 4)")x"
done
echo "# the stub logged $(wc -l <"$WORK/stub.log") lines (rate-limited), outcomes: $(grep -o '"outcome":"[a-z]*"' "$WORK/stub.log" | sort | uniq -c | tr -s ' \n' ' ')"
