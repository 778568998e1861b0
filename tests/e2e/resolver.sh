#!/bin/bash
# resolver.sh: lib/dns/resolver.c (through tests/tools/dj-resolve) against a real server: a
# dnsmasq that this script starts on 127.0.0.1 with local answers only (no upstream, so no
# query leaves the machine). Compares the addresses with dig's, and checks CNAME chains,
# NXDOMAIN, TC=1 retried over TCP, failover from a dead server, the cache (dnsmasq's query
# log shows each name asked once) and that IP literals are never sent as names.
# Only loopback traffic. Output is TAP; the plan comes last.

script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/tap.sh
. "$script_dir/tap.sh"
top_builddir=${top_builddir:-$script_dir/../..}
tool=$top_builddir/tests/tools/dj-resolve


for cmd in dnsmasq dig python3 timeout; do
    command -v "$cmd" >/dev/null 2>&1 || tap_skip_all "$cmd is not installed"
done
[ -x "$tool" ] || tap_skip_all "$tool is not built"

WORK=$(mktemp -d /tmp/djt-resolver.XXXXXX) || tap_bail "cannot create a temporary directory"
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


# A UDP and TCP port that nothing uses on 127.0.0.1 (two of them: one stays dead).
free_ports() {
    /usr/bin/python3 "$script_dir/lib/freeports.py"
}
read -r PORT DEAD_PORT < <(free_ports)

# 100 addresses for one name: more than 1232 bytes, so dnsmasq sets TC=1 over UDP.
for i in $(seq 1 100); do
    echo "198.51.100.$i many.test"
done >"$WORK/hosts"

dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$WORK/hosts" \
    --listen-address=127.0.0.1 --bind-interfaces --port="$PORT" --pid-file= \
    --user="$(id -un)" --log-queries --log-facility="$WORK/dnsmasq.log" \
    --address=/a.test/192.0.2.1 \
    --host-record=h.test,192.0.2.2,2001:db8::2 \
    --cname=c1.test,h.test --cname=c2.test,c1.test \
    --local=/nx.test/ >"$WORK/dnsmasq.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
    dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 a.test A 2>/dev/null | grep -q . && break
    sleep 0.1
done
dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 a.test A | grep -q 192.0.2.1 ||
    { echo "Bail out! dnsmasq did not start: $(tr '\n' ' ' <"$WORK/dnsmasq.out")"; exit 1; }

resolve() { # resolve ARGS... : dj-resolve against the dnsmasq
    timeout 20 "$tool" --server "127.0.0.1:$PORT" --timeout 500 "$@"
}
addresses() { # the addresses of a dj-resolve line, sorted
    cut -d' ' -f5- | tr ' ' '\n' | grep . | sort
}
dig_addresses() { # NAME TYPE...
    local name=$1
    shift
    for type in "$@"; do
        dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 "$name" "$type"
    done | grep -E '^[0-9a-f.:]+$' | grep -E '[.:][0-9a-f]' | sort
}
same_as_dig() { # NAME FAMILY TYPES...
    local name=$1 family=$2
    shift 2
    local ours theirs
    ours=$(resolve --family "$family" "$name" | addresses)
    theirs=$(dig_addresses "$name" "$@")
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
        return 0
    fi
    { echo "dj-resolve: $ours"; echo "dig: $theirs"; } | tap_diag
    return 1
}

# ---- answers ------------------------------------------------------------------------------
tap_check "A record: same addresses as dig" same_as_dig a.test 4 A
tap_check "A and AAAA: same addresses as dig" same_as_dig h.test any A AAAA
tap_check "CNAME chain of two: same addresses as dig" same_as_dig c2.test any A AAAA
out=$(resolve c2.test)
tap_check "AF_UNSPEC lists IPv6 first" test "$(echo "$out" | cut -d' ' -f5)" = 2001:db8::2
tap_check "mixed case and a trailing dot are the same name" \
    test "$(resolve C2.Test. | addresses)" = "$(resolve c2.test | addresses)"

out=$(resolve gone.nx.test)
status=$?
tap_check "a name that does not exist is NXDOMAIN" test "$(echo "$out" | cut -d' ' -f2)" = NXDOMAIN
tap_check "exit status 3 when a lookup finds nothing" test "$status" = 3

out=$(resolve --family 4 many.test)
tap_check "a truncated answer is asked again over TCP and gives 16 addresses" \
    test "$(echo "$out" | addresses | wc -l)" = 16
all_in_hosts() { # every address of dj-resolve line $1 is one of many.test's
    local a
    for a in $(echo "$1" | addresses); do
        grep -qx "$a many.test" "$WORK/hosts" || return 1
    done
}
tap_check "the TCP answer's addresses are dnsmasq's" all_in_hosts "$out"

# ---- failover ---------------------------------------------------------------------------
start=$(date +%s%N)
out=$(timeout 20 "$tool" --server "127.0.0.1:$DEAD_PORT" --server "127.0.0.1:$PORT" \
    --timeout 3000 --family 4 a.test)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
tap_check "a dead first server is skipped" test "$(echo "$out" | addresses)" = 192.0.2.1
tap_check "at once (port unreachable, not a timeout): ${elapsed_ms} ms" test "$elapsed_ms" -lt 2000

# ---- cache and coalescing -------------------------------------------------------------------
: >"$WORK/dnsmasq.log"
out=$(resolve --family 4 --repeat 3 --stats h.test h.test H.TEST.)
asked=$(grep -c 'query\[A\] h.test' "$WORK/dnsmasq.log")
tap_check "9 lookups of one name over 3 rounds reach dnsmasq once (asked $asked times)" \
    test "$asked" = 1
tap_check "rounds 2 and 3 come from the cache" test "$(echo "$out" | grep -c 'cache=yes')" = 6

# ---- literals ----------------------------------------------------------------------------
: >"$WORK/dnsmasq.log"
resolve 192.0.2.1 127.1 ::1 2>/dev/null | tap_diag
tap_check "IP literals are refused, not asked" test "$(grep -c 'query\[' "$WORK/dnsmasq.log")" = 0

tap_done
