#!/bin/bash
# dot-latency.sh: what DNS over TLS adds per uncached query, for dnsjail's resolver and for
# unbound acting as the same DoT forwarder, both asking one local unbound DoT server ("auth",
# a certificate made here, a zone from local-data) over one reused TLS connection. Everything
# runs on the loopback of a network namespace made for this run.
#
#   floor    dnsperf -q 1 -> auth, plain UDP: a query without TLS and without a forwarder
#   dnsjail  tests/tools/dj-resolve --raw --no-cache: lib/dns/resolver over TLS -> auth, one query
#            at a time (the resolver never caches raw queries); per query = (T(N) - T(1)) / (N-1),
#            so process start and the handshake are left out
#   unbound  dnsperf -q 1 -> unbound forwarder (UDP) -> forward-tls-upstream -> auth, a new
#            name per query so the forwarder's cache never answers
#
# Usage: bench/dot-latency.sh [QUERIES] (default 5000). Needs root, unbound, dnsperf, openssl
# and a built tree (top_builddir, default .). Prints the mean latency per query of each path.
set -euo pipefail

N=${1:-5000}
top_builddir=${top_builddir:-.}
tool=$top_builddir/tests/tools/dj-resolve
for cmd in unbound dnsperf openssl ip; do
    command -v "$cmd" >/dev/null || { echo "dot-latency: $cmd is not installed" >&2; exit 2; }
done
[ -x "$tool" ] || { echo "dot-latency: $tool is not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "dot-latency: needs root (a network namespace)" >&2; exit 2; }

NS=djbench-dot-$$
W=$(mktemp -d /tmp/djbench-dot.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$W/ca.key" -out "$W/ca.pem" -subj "/CN=bench CA" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/auth.key" \
    -out "$W/auth.csr" -subj /CN=dns.test >/dev/null 2>&1
printf 'subjectAltName=DNS:dns.test\n' >"$W/ext"
openssl x509 -req -in "$W/auth.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 2 -out "$W/auth.pem" -extfile "$W/ext" >/dev/null 2>&1

common() { # the settings both unbound instances share
    cat <<EOF
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$W"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
EOF
}
{
    echo "server:"
    echo "    interface: 127.0.0.1@853"
    echo "    interface: 127.0.0.1@53"
    echo "    tls-port: 853"
    echo "    tls-service-key: \"$W/auth.key\""
    echo "    tls-service-pem: \"$W/auth.pem\""
    echo "    incoming-num-tcp: 100"
    common
    echo '    local-zone: "bench.test." redirect'
    echo '    local-data: "bench.test. 300 IN A 192.0.2.1"'
} >"$W/auth.conf"
{
    echo "server:"
    echo "    interface: 127.0.0.1@5301"
    echo "    tls-cert-bundle: \"$W/ca.pem\""
    echo "    tcp-upstream: no"
    common
    echo '    local-zone: "test." nodefault' # else unbound answers test. itself (RFC 6761)
    echo "    do-not-query-localhost: no"     # the DoT server is on 127.0.0.1
    echo "forward-zone:"
    echo '    name: "."'
    echo "    forward-tls-upstream: yes"
    echo "    forward-addr: 127.0.0.1@853#dns.test"
} >"$W/fwd.conf"
# Not through in_ns: a function run with & is a subshell, and $! would not be unbound.
ip netns exec "$NS" unbound -d -c "$W/auth.conf" >"$W/auth.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS" unbound -d -c "$W/fwd.conf" >"$W/fwd.out" 2>&1 &
PIDS+=($!)
sleep 1

for i in $(seq 1 "$N"); do echo "q$i.bench.test A"; done >"$W/names"
for i in $(seq 1 50); do echo "warm$i.bench.test A"; done >"$W/warm"
avg_ms() { sed -n 's/.*Average Latency (s):[[:space:]]*\([0-9.]*\).*/\1/p' | awk '{printf "%.3f", $1 * 1000}'; }

perf() { # PORT FILE: mean latency in ms of dnsperf, one query outstanding, all NOERROR
    in_ns dnsperf -s 127.0.0.1 -p "$1" -d "$2" -q 1 -n 1 -t 5 >"$W/perf.out" 2>&1
    grep -q 'NOERROR [0-9]* (100.00%)' "$W/perf.out" || {
        echo "dot-latency: not every answer was NOERROR (port $1)" >&2
        cat "$W/perf.out" >&2
        exit 1
    }
    avg_ms <"$W/perf.out"
}
floor=$(perf 53 "$W/names")
perf 5301 "$W/warm" >/dev/null # the forwarder's TLS connection is up
fwd=$(perf 5301 "$W/names")

server="tls://127.0.0.1:853#dns.test;ca-file=$W/ca.pem"
run_ours() { # ROUNDS: nanoseconds for that many sequential queries, one process
    local start end
    start=$(date +%s%N)
    in_ns "$tool" --server "$server" --raw --no-cache --repeat "$1" x.bench.test >"$W/ours.out"
    end=$(date +%s%N)
    grep -q ' OK ' "$W/ours.out" || { echo "dot-latency: dj-resolve got no answer" >&2; exit 1; }
    echo $((end - start))
}
one=$(run_ours 1)
all=$(run_ours "$N")
ours=$(awk -v a="$all" -v o="$one" -v n="$N" 'BEGIN { printf "%.3f", (a - o) / (n - 1) / 1e6 }')

echo "queries per path: $N, one at a time, loopback"
echo "floor   (plain UDP to the DoT server itself):      $floor ms"
echo "dnsjail (lib/dns/resolver, DoT to the server):        $ours ms   added: $(awk -v a="$ours" -v b="$floor" 'BEGIN{printf "%.3f", a-b}') ms"
echo "unbound (forwarder, UDP in, DoT to the server):   $fwd ms   added: $(awk -v a="$fwd" -v b="$floor" 'BEGIN{printf "%.3f", a-b}') ms"
