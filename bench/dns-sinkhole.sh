#!/bin/bash
# dns-sinkhole.sh: dnsjail-dnsstub against dnsmasq and unbound doing the same sinkhole job
# (every name -> 6.6.6.6, query logging off), on loopback, in the same run.
#
# Four servers, each started once and left idle while the others are measured:
#   stub         dnsjail-dnsstub --listen 127.0.0.1:P, JSON log to a file, rate-limited
#                (the defaults: 200 lines/s, burst 400) - what production runs
#   stub-logall  dnsjail-dnsstub --log-file /dev/null --log-rate 0: every query formatted and
#                written, to show what logging itself costs
#   dnsmasq      dnsmasq -k --no-resolv --no-hosts --address=/#/6.6.6.6 (no --log-queries)
#   unbound      unbound -d, one thread, local-zone "." redirect with local-data ". A 6.6.6.6"
# Three measurements:
#   capacity     two load generators, pinned to CPU 0 while the servers are pinned to CPU 1:
#                dnsperf (the reference tool; one datagram per system call, so on a 2-core
#                machine it is usually the bottleneck) and dns-blast (bench/dns-blast.c,
#                batched with sendmmsg/recvmmsg, 256 in flight: saturates the server). For every
#                run the server's CPU time is recorded too: answered queries per CPU-second is
#                the figure other jobs on a shared machine disturb least. Rounds rotate the
#                order; medians are reported.
#   latency      dnsperf -v at a fixed offered load (LATENCY_QPS, default 20000/s, which every
#                server can carry): the percentiles of the per-query latencies it prints
#   instructions each server under valgrind --tool=callgrind as nobody, sent 2000 and then,
#                in a second run, 22000 queries (dnsperf -n 1 -Q 5000): the difference of the
#                two runs' instruction counts over 20000 is the user-space cost of a query,
#                startup and shutdown cancelled out. Exact whatever the machine's load. The
#                stub runs with bench/no-seccomp.c preloaded, since valgrind cannot run seccomp (the shim makes its seccomp(2) call a no-op).
#
# Usage: bench/dns-sinkhole.sh [ROUNDS] [SECONDS]   (defaults 3 and 5)
# Env: STUB=path to dnsjail-dnsstub (default $top_builddir/dnsstub/dnsjail-dnsstub),
#      PORT=first of five ports (15401), LATENCY_QPS (20000), LATENCY_SECONDS (5),
#      CALLGRIND=0 to skip the instruction counts, BENCH_RESULTS (see bench/lib.sh).
# Needs: dnsperf, dnsmasq, unbound, valgrind, python3, cc, taskset, setpriv, dig; root for
#        --user nobody and for running the callgrind servers as nobody.

set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
script_dir=$bench_script_dir
STUB=${STUB:-$top_builddir/dnsstub/dnsjail-dnsstub}
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-5}
PORT=${PORT:-15401}
LATENCY_QPS=${LATENCY_QPS:-20000}
LATENCY_SECONDS=${LATENCY_SECONDS:-5}
CALLGRIND=${CALLGRIND:-1}

bench_init dns-sinkhole
bench_need dnsperf dnsmasq unbound python3 cc taskset dig
[ "$CALLGRIND" = 1 ] && bench_need valgrind setpriv
[ -x "$STUB" ] || die "$STUB is not built (set STUB= or top_builddir=)"
AS_USER=()
[ "$(id -u)" = 0 ] && AS_USER=(--user nobody)
SERVERS=(stub stub-logall dnsmasq unbound)

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

# The unbound configuration: one thread, no daemon, no chroot, nothing but the redirect.
unbound_conf() { # PORT USERNAME DIRECTORY
    cat <<EOF
server:
    interface: 127.0.0.1
    port: $1
    num-threads: 1
    do-daemonize: no
    do-ip6: no
    use-syslog: no
    logfile: ""
    chroot: ""
    username: "$2"
    directory: "$3"
    pidfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "." redirect
    local-data: ". 5 IN A 6.6.6.6"
remote-control:
    control-enable: no
EOF
}

# The command that runs server NAME on PORT (logs and files under DIR). AS_USER_NOW: the
# --user option for the stub (empty when the caller already runs it as nobody).
server_cmd() { # NAME PORT DIR
    local name=$1 port=$2 dir=$3
    case $name in
        stub)
            echo "$STUB" --listen "127.0.0.1:$port" "${AS_USER_NOW[@]}" --log-file "$dir/stub.log" \
                --container-id bench ;;
        stub-logall)
            echo "$STUB" --listen "127.0.0.1:$port" "${AS_USER_NOW[@]}" --log-file /dev/null \
                --log-rate 0 --container-id bench ;;
        dnsmasq)
            echo dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --address=/#/6.6.6.6 \
                --port="$port" --listen-address=127.0.0.1 --bind-interfaces --pid-file= ;;
        unbound)
            unbound_conf "$port" "" "$dir" >"$dir/unbound-$port.conf"
            echo unbound -d -c "$dir/unbound-$port.conf" ;;
    esac
}

answers_sinkhole() { # PORT
    [ "$(dig @127.0.0.1 -p "$1" +short +time=1 +tries=1 check.bench.example A 2>/dev/null)" = 6.6.6.6 ]
}
wait_answers() { # PORT NAME
    local i
    for _ in $(seq 100); do
        answers_sinkhole "$1" && return 0
        sleep 0.2
    done
    die "$2 does not answer 6.6.6.6 on port $1"
}

declare -A SERVER_PID SERVER_PORT IPQ
AS_USER_NOW=("${AS_USER[@]}")
k=0
for name in "${SERVERS[@]}"; do
    port=$((PORT + k))
    k=$((k + 1))
    # shellcheck disable=SC2046 # server_cmd prints words without blanks inside
    $SERVER_CPU $(server_cmd "$name" "$port" "$WORK") >"$WORK/$name.out" 2>&1 &
    SERVER_PID[$name]=$!
    SERVER_PORT[$name]=$port
    PIDS+=("$!")
done
for name in "${SERVERS[@]}"; do
    wait_answers "${SERVER_PORT[$name]}" "$name"
done

# Appends "NAME TOOL QPS ANSWERED/CPU-S CPU-SHARE" to results.
measure() { # NAME TOOL
    local name=$1 tool=$2 pid=${SERVER_PID[$1]} port=${SERVER_PORT[$1]} before after qps out
    local answered cpu per_cpu share note
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

bench_machine
echo "# dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'), $(dnsmasq --version | head -1 | cut -d' ' -f1-3), unbound $(unbound -V | awk '/^Version/ {print $2}')"
echo "# $ROUNDS rounds of ${SECONDS_PER_RUN}s per server and tool; servers ${SERVER_CPU:-unpinned}, load ${CLIENT_CPU:-unpinned}"
echo
echo "## capacity"
order=("${SERVERS[@]}")
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

median_of() { # NAME TOOL COLUMN [MIN_CPU_SHARE]
    awk -v n="$1" -v t="$2" -v c="$3" -v min="${4:-0}" \
        '$1 == n && $2 == t && $5 >= min {print $c}' "$WORK/results" | median
}
echo
echo "## medians"
printf '%-12s %14s %16s %14s %16s\n' server "dnsperf qps" "dnsperf q/cpu-s" "blast qps" "blast q/cpu-s"
for name in "${SERVERS[@]}"; do
    printf '%-12s %14.0f %16.0f %14.0f %16.0f\n' "$name" "$(median_of "$name" dnsperf 3)" \
        "$(median_of "$name" dnsperf 4)" "$(median_of "$name" blast 3)" "$(median_of "$name" blast 4)"
    bench_record "dns.$name.dnsperf.qps" "$(median_of "$name" dnsperf 3)"
    bench_record "dns.$name.blast.qps" "$(median_of "$name" blast 3)"
    bench_record "dns.$name.blast.per_cpu_s" "$(median_of "$name" blast 4)"
done
echo
for peer in dnsmasq unbound; do
    echo "## ratios stub / $peer"
    for tool in dnsperf blast; do
        echo "$tool: qps $(ratio "$(median_of stub "$tool" 3)" "$(median_of "$peer" "$tool" 3)")x," \
            "queries per CPU-second $(ratio "$(median_of stub "$tool" 4)" "$(median_of "$peer" "$tool" 4)")x;" \
            "with every query logged: qps $(ratio "$(median_of stub-logall "$tool" 3)" "$(median_of "$peer" "$tool" 3)")x"
    done
done
[ "$contended" -gt 0 ] &&
    echo "# $contended saturating runs got less than 90% of CPU 1: their qps is low; see queries per CPU-second"
echo
echo "## dns-blast, only the runs where the server had at least 90% of CPU 1"
for name in "${SERVERS[@]}"; do
    printf '%-12s qps %8s  (%d runs)\n' "$name" "$(median_of "$name" blast 3 90)" \
        "$(awk -v n="$name" '$1 == n && $2 == "blast" && $5 >= 90' "$WORK/results" | wc -l)"
done
echo "# the rate-limited stub wrote $(wc -l <"$WORK/stub.log") log lines during the capacity runs"

# ---- latency at a fixed offered load --------------------------------------------------------
echo
echo "## latency: dnsperf -Q $LATENCY_QPS -l $LATENCY_SECONDS -c 8 -v, per-query latencies in microseconds"
printf '%-12s %9s %8s %8s %8s %8s %8s\n' server answered p50 p90 p99 p99.9 max
for name in "${SERVERS[@]}"; do
    $CLIENT_CPU dnsperf -s 127.0.0.1 -p "${SERVER_PORT[$name]}" -d "$WORK/queries.txt" \
        -l "$LATENCY_SECONDS" -c 8 -Q "$LATENCY_QPS" -v 2>&1 |
        awk '$1 == ">" {print $NF * 1e6}' | sort -g >"$WORK/lat-$name"
    read -r n p50 p90 p99 p999 max < <(awk '{v[NR] = $1}
        function pct(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
        END { if (NR == 0) print "0 - - - - -"; else printf "%d %.0f %.0f %.0f %.0f %.0f\n", NR, pct(0.5), pct(0.9), pct(0.99), pct(0.999), v[NR] }' "$WORK/lat-$name")
    printf '%-12s %9s %8s %8s %8s %8s %8s\n' "$name" "$n" "$p50" "$p90" "$p99" "$p999" "$max"
    bench_record "dns.$name.latency_p50_us" "$p50"
    bench_record "dns.$name.latency_p99_us" "$p99"
done

# ---- instructions per query under callgrind -----------------------------------------------
[ "$CALLGRIND" = 1 ] || exit 0
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
PIDS=()
cc -O2 -shared -fPIC -o "$WORK/no-seccomp.so" "$script_dir/no-seccomp.c" || die "cannot build no-seccomp.so"
head -n 2000 "$WORK/queries.txt" >"$WORK/q-small.txt"
head -n 22000 "$WORK/queries.txt" >"$WORK/q-big.txt"
mkdir -m 777 "$WORK/cg"
# Under valgrind every server runs as nobody from the start (valgrind writes its output file
# at exit, after the stub would have dropped root), so the stub gets no --user.
AS_NOBODY=()
[ "$(id -u)" = 0 ] && AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
AS_USER_NOW=()

# Prints the instructions server NAME executed, start to exit, answering the queries of FILE.
instructions() { # NAME FILE
    local name=$1 file=$2 port=$((PORT + 10)) pid out
    out=$WORK/cg/$name.$(basename "$file").out
    # shellcheck disable=SC2046 # server_cmd prints words without blanks inside
    "${AS_NOBODY[@]}" env LD_PRELOAD="$WORK/no-seccomp.so" valgrind --tool=callgrind \
        --callgrind-out-file="$out" $(server_cmd "$name" "$port" "$WORK/cg") \
        >"$WORK/cg/$name.vg" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_answers "$port" "$name (under callgrind)"
    dnsperf -s 127.0.0.1 -p "$port" -d "$file" -n 1 -c 1 -q 50 -Q 5000 >"$WORK/cg/$name.perf" 2>&1
    kill "$pid"
    wait "$pid" 2>/dev/null
    PIDS=()
    grep -q 'Queries lost: *0 ' "$WORK/cg/$name.perf" ||
        echo "# $name lost queries under callgrind: $(grep 'Queries lost' "$WORK/cg/$name.perf")" >&2
    awk '/^summary:/ {print $2}' "$out"
}
echo
echo "## instructions per query (valgrind --tool=callgrind, user space only: (run of 22000 queries - run of 2000) / 20000)"
for name in stub dnsmasq unbound; do
    small=$(instructions "$name" "$WORK/q-small.txt")
    big=$(instructions "$name" "$WORK/q-big.txt")
    per=$(awk -v a="$big" -v b="$small" 'BEGIN {if (a > 0 && b > 0) printf "%.0f", (a - b) / 20000; else print "-"}')
    printf '%-12s %8s instructions per query  (runs: %s and %s)\n' "$name" "$per" "$small" "$big"
    IPQ[$name]=$per
    bench_record "dns.$name.instructions_per_query" "$per"
done
echo "stub / dnsmasq $(ratio "${IPQ[stub]}" "${IPQ[dnsmasq]}")x, stub / unbound $(ratio "${IPQ[stub]}" "${IPQ[unbound]}")x (fewer is better)"
