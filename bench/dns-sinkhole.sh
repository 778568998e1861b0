#!/bin/bash
# dns-sinkhole.sh: queries per second of dnsjail-dnsstub against dnsmasq doing the same
# sinkhole job (every name -> 6.6.6.6, query logging off), on loopback, in the same run.
#
# Three servers, each started once and left idle while the others are measured:
#   stub         dnsjail-dnsstub --listen 127.0.0.1:P, JSON log to a file, rate-limited
#                (the defaults: 200 lines/s, burst 400) - what production runs
#   stub-logall  dnsjail-dnsstub --log-file /dev/null --log-rate 0: every query formatted and
#                written, to show what logging itself costs
#   dnsmasq      dnsmasq -k --no-resolv --no-hosts --address=/#/6.6.6.6 (no --log-queries)
# Two load generators, pinned to CPU 0 while the servers are pinned to CPU 1:
#   dnsperf      the reference tool; one datagram per system call, so on a 2-core machine it
#                is usually the bottleneck and the servers idle part of the time
#   dns-blast    bench/dns-blast.c, batched (sendmmsg/recvmmsg, 256 in flight): saturates the
#                server, so its figure is the server's capacity on its one CPU
# For every measurement the server's CPU time (utime + stime from /proc) is recorded too:
# answered queries per CPU-second is the efficiency figure that neighbours on a shared
# machine disturb least. Rounds alternate the servers (rotating the order); medians are
# reported.
#
# Usage: bench/dns-sinkhole.sh [ROUNDS] [SECONDS]   (defaults 5 and 8)
# Env: STUB=path to dnsjail-dnsstub (default $top_builddir/dnsstub/dnsjail-dnsstub, with
#      top_builddir defaulting to the source tree), PORT=first of three ports (15401).
# Needs: dnsperf, dnsmasq, python3, cc, taskset; root only for --user nobody.

set -u
script_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$script_dir/..}
STUB=${STUB:-$top_builddir/dnsstub/dnsjail-dnsstub}
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-8}
PORT=${PORT:-15401}
CLK_TCK=$(getconf CLK_TCK)

die() {
    echo "dns-sinkhole.sh: $*" >&2
    exit 1
}
for cmd in dnsperf dnsmasq python3 cc taskset; do
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

WORK=$(mktemp -d /tmp/dns-sinkhole.XXXXXX) || die "no temporary directory"
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

# 100000 random names under a test domain, all type A.
python3 - "$WORK/queries.txt" <<'EOF'
import random, sys
rng = random.Random(20240501)
chars = "abcdefghijklmnopqrstuvwxyz0123456789"
with open(sys.argv[1], "w") as f:
    for _ in range(100000):
        f.write("%s.bench.example A\n" % "".join(rng.choice(chars) for _ in range(12)))
EOF

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
    --log-file "$WORK/stub.log" --container-id bench
start_server stub-logall "$((PORT + 1))" "$STUB" --listen "127.0.0.1:$((PORT + 1))" \
    "${AS_USER[@]}" --log-file /dev/null --log-rate 0 --container-id bench
start_server dnsmasq "$((PORT + 2))" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts \
    --address=/#/6.6.6.6 --port="$((PORT + 2))" --listen-address=127.0.0.1 --bind-interfaces \
    --pid-file=
sleep 1
for name in stub stub-logall dnsmasq; do
    answer=$(dig @127.0.0.1 -p "${SERVER_PORT[$name]}" +short +time=2 check.bench.example A)
    [ "$answer" = 6.6.6.6 ] || die "$name does not answer 6.6.6.6 (got '$answer')"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Appends "NAME TOOL QPS CPU_SECONDS" to results.
measure() { # NAME TOOL
    local name=$1 tool=$2 pid=${SERVER_PID[$1]} port=${SERVER_PORT[$1]} before after qps out
    before=$(cpu_ticks "$pid")
    if [ "$tool" = dnsperf ]; then
        out=$($CLIENT_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" \
            -l "$SECONDS_PER_RUN" -c 8 -q 500 2>&1)
        qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
        answered=$(awk '/Queries completed/ {print $3}' <<<"$out")
    else
        out=$($CLIENT_CPU "$WORK/dns-blast" 127.0.0.1 "$port" "$SECONDS_PER_RUN" 256)
        qps=$(awk '{print $10}' <<<"$out")
        answered=$(awk '{print $6}' <<<"$out")
    fi
    after=$(cpu_ticks "$pid")
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
    per_cpu=$(awk -v a="$answered" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? a / c : 0)}')
    share=$(awk -v c="$cpu" -v s="$SECONDS_PER_RUN" 'BEGIN {printf "%.0f", 100 * c / s}')
    note=""
    # dns-blast keeps the server busy: less than 90% of its CPU means a neighbour took the rest.
    if [ "$tool" = blast ] && [ "$share" -lt 90 ]; then
        note="  (CPU 1 shared with other work)"
        contended=$((contended + 1))
    fi
    printf '%-12s %-9s qps %8.0f  server-cpu %5ss (%3s%%)  answered/cpu-s %8s%s\n' "$name" \
        "$tool" "$qps" "$cpu" "$share" "$per_cpu" "$note"
    echo "$name $tool $qps $per_cpu $share" >>"$WORK/results"
}
contended=0

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) CPUs: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "# $ROUNDS rounds of ${SECONDS_PER_RUN}s per server and tool; servers ${SERVER_CPU:-unpinned}, load ${CLIENT_CPU:-unpinned}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
order=(stub dnsmasq stub-logall)
for round in $(seq "$ROUNDS"); do
    echo "## round $round"
    for tool in dnsperf blast; do
        for name in "${order[@]}"; do
            measure "$name" "$tool"
        done
    done
    order=("${order[@]:1}" "${order[0]}") # rotate, so no server always goes first
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { # NAME TOOL COLUMN [MIN_CPU_SHARE]
    awk -v n="$1" -v t="$2" -v c="$3" -v min="${4:-0}" \
        '$1 == n && $2 == t && $5 >= min {print $c}' "$WORK/results" |
        sort -n | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo
echo "## medians"
printf '%-12s %14s %16s %14s %16s\n' server "dnsperf qps" "dnsperf q/cpu-s" "blast qps" "blast q/cpu-s"
for name in stub stub-logall dnsmasq; do
    printf '%-12s %14.0f %16.0f %14.0f %16.0f\n' "$name" "$(median "$name" dnsperf 3)" \
        "$(median "$name" dnsperf 4)" "$(median "$name" blast 3)" "$(median "$name" blast 4)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "## ratios stub / dnsmasq"
for tool in dnsperf blast; do
    echo "$tool: qps $(ratio "$(median stub "$tool" 3)" "$(median dnsmasq "$tool" 3)")x," \
        "queries per CPU-second $(ratio "$(median stub "$tool" 4)" "$(median dnsmasq "$tool" 4)")x;" \
        "with every query logged: qps $(ratio "$(median stub-logall "$tool" 3)" "$(median dnsmasq "$tool" 3)")x"
done
[ "$contended" -gt 0 ] &&
    echo "# $contended saturating runs got less than 90% of CPU 1: their qps is low; see queries per CPU-second"
echo
echo "## dns-blast, only the runs where the server had at least 90% of CPU 1"
for name in stub stub-logall dnsmasq; do
    printf '%-12s qps %8.0f  (%d runs)\n' "$name" "$(median "$name" blast 3 90)" \
        "$(awk -v n="$name" '$1 == n && $2 == "blast" && $5 >= 90' "$WORK/results" | wc -l)"
done
echo "stub / dnsmasq: $(ratio "$(median stub blast 3 90)" "$(median dnsmasq blast 3 90)")x"
lines=$(wc -l <"$WORK/stub.log")
echo "# the rate-limited stub wrote $lines log lines during the whole run"
