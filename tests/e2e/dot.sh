#!/bin/bash
# dot.sh: the resolver's DNS over TLS (lib/dns/dot.c through tests/tools/dj-resolve, and the proxy
# under its sandbox) against a real DoT server: Debian's unbound in a server namespace of the
# test world (tests/e2e/world.sh), on 203.0.113.53 port 853 (TLS) and 53 (plain), with a CA
# and a server certificate for dns.test that this script makes with openssl, serving a test
# zone from local-data. The client side runs in the world's host namespace.
#
# nft counters in the server namespace see every plain DNS packet to port 53 and every new
# TCP connection to port 853: a DoT failure must never turn into a plain query, and several
# queries must share one TLS connection. Each negative case has its positive control.
# Output is TAP.

# shellcheck source=world.sh
. "$(dirname "$0")/world.sh"

tool=$top_builddir/tests/tools/dj-resolve
proxy=$(cd "$top_builddir" 2>/dev/null && pwd)/proxy/dnsjail-proxy
stub=$(cd "$top_builddir" 2>/dev/null && pwd)/dnsstub/dnsjail-dnsstub
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (network namespaces)"
world_require ip nft unbound dig openssl python3 curl nsenter timeout
[ -x "$tool" ] || tap_skip_all "not built: $tool"
[ -x "$proxy" ] || tap_skip_all "not built: $proxy"
[ -x "$stub" ] || tap_skip_all "not built: $stub"

world_init
world_internet || tap_bail "cannot build the internet namespace"
world_hostns || tap_bail "cannot build the host namespace"
world_servers_ns dot 203.0.113.53/32 203.0.113.80/32 || tap_bail "cannot build the server namespace"
SRV=$W_SRV_NS
DOT=203.0.113.53
D=$W_TMP/dot
mkdir -p "$D"
chmod 755 "$D"

# ---- certificates -------------------------------------------------------------------------
cert() { # NAME SAN CA_PREFIX: key and certificate NAME signed by CA_PREFIX
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$D/$1.key" \
        -out "$D/$1.csr" -subj "/CN=$2" >/dev/null 2>&1 &&
        printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$2" >"$D/$1.ext" &&
        openssl x509 -req -in "$D/$1.csr" -CA "$D/$3.pem" -CAkey "$D/$3.key" -CAcreateserial \
            -days 2 -out "$D/$1.pem" -extfile "$D/$1.ext" >/dev/null 2>&1
}
pin_of() { # CERT
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | openssl base64
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$D/ca.key" -out "$D/ca.pem" -subj "/CN=dnsjail test CA" >/dev/null 2>&1 &&
    cert server dns.test ca && cert other other.test ca || tap_bail "openssl cannot make certificates"
chmod 644 "$D"/*.pem "$D"/*.key
PIN=$(pin_of "$D/server.pem")
OTHER_PIN=$(pin_of "$D/other.pem")
CA=$D/ca.pem

# ---- unbound ------------------------------------------------------------------------------
{
    cat <<EOF
server:
    interface: $DOT@853
    interface: $DOT@53
    tls-port: 853
    tls-service-key: "$D/server.key"
    tls-service-pem: "$D/server.pem"
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$D"
    pidfile: ""
    use-syslog: no
    logfile: "$D/unbound.log"
    verbosity: 1
    do-ip6: no
    access-control: 0.0.0.0/0 allow
    local-zone: "example.test." static
    local-data: "www.example.test. 300 IN A 203.0.113.80"
    local-data: "www.example.test. 300 IN AAAA 2001:db8::80"
    local-data: "two.example.test. 300 IN A 203.0.113.81"
    local-data: "two.example.test. 300 IN A 203.0.113.82"
    local-data: 'txt.example.test. 300 IN TXT "hello world" "second string"'
EOF
    # 40 TXT records of 60 bytes: far more than the 1232 bytes a UDP answer may have.
    for i in $(seq -w 1 40); do
        echo "    local-data: 'big.example.test. 300 IN TXT \"record $i $(printf '%050d' 0)\"'"
    done
} >"$D/unbound.conf"
unbound-checkconf "$D/unbound.conf" >"$D/checkconf.out" 2>&1 || {
    tap_diag_file "$D/checkconf.out"
    tap_bail "unbound-checkconf refuses the configuration"
}
UNBOUND_PID=
unbound_start() {
    nsenter --net="$SRV" unbound -d -c "$D/unbound.conf" >>"$D/unbound.out" 2>&1 &
    UNBOUND_PID=$!
    W_PIDS+=("$UNBOUND_PID")
    # Ready when it answers over TLS (a plain probe would move the port 53 counter).
    wait_until 10 nsenter --net="$SRV" dig +tls +tls-ca="$CA" +tls-hostname=dns.test +time=1 \
        +tries=1 +short @$DOT www.example.test A >/dev/null
}
unbound_stop() {
    kill "$UNBOUND_PID" 2>/dev/null
    wait "$UNBOUND_PID" 2>/dev/null
}
unbound_start || {
    tap_diag_file "$D/unbound.out"
    tap_bail "unbound did not start"
}

# What reaches the server: plain DNS on port 53 (any packet) and new TLS connections.
nsenter --net="$SRV" nft -f - <<EOF || tap_bail "nft counters"
table inet djdot {
    counter plain53 { }
    counter tls_new { }
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 53 counter name plain53
        tcp dport 53 counter name plain53
        tcp dport 853 ct state new counter name tls_new
    }
}
EOF
counter() { nsenter --net="$SRV" nft list counter inet djdot "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

# ---- helpers ------------------------------------------------------------------------------
# dj-resolve in the host namespace; its log lines (stderr) go to $D/log.
resolve() { # ARGS...
    : >"$D/log"
    timeout 60 nsenter --net="$W_HOSTNS_PATH" "$tool" --timeout 1500 --attempts 1 --log "$@" \
        2>"$D/log"
}
tls_url() { # [PARAMS]: the server with the CA file and the right name, plus PARAMS
    echo "tls://$DOT#dns.test;ca-file=$CA$1"
}
has() { grep -qE -- "$2" <<<"$1"; }
check_has() { # DESCRIPTION OUTPUT REGEX
    if has "$2" "$3"; then tap_result 0 "$1"; else
        tap_result 1 "$1"
        tap_diag "got: $2"
        tap_diag_file "$D/log"
    fi
}
log_has() { grep -q "\"event\":\"resolver_tls_failure\".*\"failure\":\"$1\"" "$D/log"; }
stat_of() { grep -o " $2=[0-9]*" <<<"$1" | head -n1 | cut -d= -f2; }

tap_plan 50

# ---- authentication: pin, name, chain -------------------------------------------------------
out=$(resolve --server "tls://$DOT#dns.test;pin-sha256=$PIN" --raw www.example.test)
check_has "pin right (and the name): the answer comes over TLS" "$out" '^www.example.test OK rcode=NOERROR answers=1 203.0.113.80$'
tap_check "pin right: no failure logged" bash -c "! grep -q resolver_tls_failure '$D/log'"
out=$(resolve --server "tls://$DOT;pin-sha256=$PIN" --raw www.example.test)
check_has "pin alone (a self-signed server needs no CA): answer" "$out" ' OK .*203.0.113.80$'
out=$(resolve --server "tls://$DOT;pin-sha256=$OTHER_PIN;pin-sha256=$PIN" --raw www.example.test)
check_has "two pins (rotation): the second matches, answer" "$out" ' OK .*203.0.113.80$'

plain_before=$(counter plain53)
out=$(resolve --server "tls://$DOT#dns.test;pin-sha256=$OTHER_PIN" --stats --raw pinwrong.example.test)
plain_after=$(counter plain53)
check_has "pin wrong: SERVFAIL" "$out" '^pinwrong.example.test SERVFAIL$'
one_pin_line() { log_has pin && grep -qF "$PIN" "$D/log" && [ "$(grep -c resolver_tls_failure "$D/log")" = 1 ]; }
tap_check "pin wrong: one log line says so, with the server's real pin" one_pin_line
check_has "pin wrong: counted (dot_pin_failures=1)" "$out" ' dot_pin_failures=1 '
tap_check "pin wrong: no plain DNS reached the server (port 53 counter unchanged)" \
    test "$plain_before" = "$plain_after"
tap_check "pin wrong: no plain DNS anywhere else (the canary resolver saw nothing)" \
    bash -c "! grep -qF pinwrong.example.test '$W_CANARY_DNS_LOG'"
# The counter's positive control: plain DNS to the same server is counted.
nsenter --net="$W_HOSTNS_PATH" dig +time=2 +tries=1 +short @$DOT www.example.test A >/dev/null
tap_check "control: a plain query to port 53 is counted" test "$(counter plain53)" -gt "$plain_after"

out=$(resolve --server "$(tls_url ";pin-sha256=$OTHER_PIN")" --raw www.example.test)
check_has "pin wrong although the chain and name verify: SERVFAIL" "$out" ' SERVFAIL$'
tap_check "... logged as a pin failure" log_has pin
out=$(resolve --server "$(tls_url ";pin-sha256=$PIN")" --raw www.example.test)
check_has "control: pin right with the chain and name verified: answer" "$out" ' OK .*203.0.113.80$'

out=$(resolve --server "$(tls_url)" --raw www.example.test)
check_has "CA file and name right: answer" "$out" ' OK .*203.0.113.80$'
out=$(resolve --server "tls://$DOT#wrong.test;ca-file=$CA" --stats --raw www.example.test)
check_has "name wrong: SERVFAIL" "$out" ' SERVFAIL$'
tap_check "name wrong: logged as a verification failure" log_has verify
check_has "name wrong: counted (dot_verify_failures=1)" "$out" ' dot_verify_failures=1 '
out=$(resolve --server "tls://$DOT#wrong.test;pin-sha256=$PIN" --raw www.example.test)
check_has "name wrong with the right pin: SERVFAIL (the name is still checked)" "$out" ' SERVFAIL$'
out=$(resolve --server "tls://$DOT#dns.test" --raw www.example.test)
check_has "chain from an unknown CA (system store, no pin): SERVFAIL" "$out" ' SERVFAIL$'
tap_check "... logged as a verification failure" log_has verify

# ---- failover and health --------------------------------------------------------------------
# 203.0.113.54 is the internet's, where nothing listens on 853: refused.
out=$(resolve --server "tls://203.0.113.54#dns.test;ca-file=$CA" --server "$(tls_url)" --stats \
    --raw --no-cache --repeat 3 www.example.test)
check_has "failover: a dead first server, the second answers" "$out" '^www.example.test OK .*203.0.113.80$'
tap_check "failover: every round answered" test "$(grep -c ' OK ' <<<"$out")" = 3
check_has "health: the failed server is tried last afterwards (asked once in 3 rounds)" "$out" '^server 1 transport=tls sent=1 answered=0 failures=1 healthy=no'
check_has "health: the second answered all 3" "$out" '^server 2 transport=tls sent=3 answered=3 '

# ---- the server goes away and comes back ------------------------------------------------------
plain_before=$(counter plain53)
: >"$D/downup.out"
resolve --server "$(tls_url)" --raw --no-cache --repeat 200 --interval 100 www.example.test \
    >"$D/downup.out" &
RUNNER=$!
wait_until 20 grep -q ' OK ' "$D/downup.out"
unbound_stop
wait_until 20 grep -q ' SERVFAIL' "$D/downup.out"
unbound_start
wait "$RUNNER"
seq_seen=$(awk '{print $2}' "$D/downup.out" | uniq | tr '\n' ' ')
tap_check "server down then back: answers, then failures, then answers again ($seq_seen)" \
    bash -c '[[ "$1" =~ ^OK\ (TIMEOUT\ )?SERVFAIL\ .*OK\ $ ]]' _ "$seq_seen"
tap_check "down: never a plain query meanwhile (port 53 counter unchanged)" \
    test "$(counter plain53)" = "$plain_before"

# ---- truncation -----------------------------------------------------------------------------
out=$(resolve --server "udp://$DOT" --stats --raw --type TXT txt.example.test)
check_has "control: a small TXT over UDP needs no TCP" "$out" 'tcp_fallbacks=0 '
out=$(resolve --server "udp://$DOT" --stats --raw --type TXT big.example.test)
check_has "TC over UDP: retried over TCP, all 40 records" "$out" '^big.example.test OK rcode=NOERROR answers=40 '
check_has "TC over UDP: counted (tcp_fallbacks=1)" "$out" 'tcp_fallbacks=1 '
out=$(resolve --server "$(tls_url)" --stats --raw --type TXT big.example.test)
check_has "over TLS the same answer comes whole" "$out" '^big.example.test OK rcode=NOERROR answers=40 '

# ---- one connection for many queries --------------------------------------------------------
before=$(counter tls_new)
resolve --server "$(tls_url)" --stats --raw --no-cache --repeat 3 --interval 200 \
    www.example.test two.example.test txt.example.test a.example.test b.example.test >"$D/reuse.out"
after=$(counter tls_new)
tap_check "reuse: 15 queries (5 at once, 3 rounds) all answered" \
    test "$(grep -cE ' (OK|NODATA|NXDOMAIN) ' "$D/reuse.out")" = 15
tap_check "reuse: one TLS connection at the server for all of them ($before -> $after)" \
    test $((after - before)) = 1
check_has "reuse: the resolver counted one connect" "$(cat "$D/reuse.out")" ' dot_connects=1 dot_reconnects=0 '
before=$(counter tls_new)
resolve --server "$(tls_url)" --raw www.example.test >/dev/null
resolve --server "$(tls_url)" --raw www.example.test >/dev/null
tap_check "control: two runs are two connections at the server" test $(($(counter tls_new) - before)) = 2

# ---- the same answers as dig and kdig ---------------------------------------------------------
same_as() { # TOOL NAME TYPE: dj-resolve over TLS against TOOL over TLS, same unbound
    local ours theirs
    ours=$(resolve --server "$(tls_url)" --raw --type "$3" "$2" | cut -d' ' -f5- | tr ' ' '\n' |
        grep . | sort | tr '\n' ' ')
    case $1 in
    dig) theirs=$(nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 +tls +tls-ca="$CA" \
        +tls-hostname=dns.test @$DOT "$2" "$3") ;;
    kdig) theirs=$(nsenter --net="$W_HOSTNS_PATH" kdig +short +time=2 +retry=0 +tls-ca="$CA" \
        +tls-hostname=dns.test @$DOT "$2" "$3") ;;
    esac
    theirs=$(tr ' ' '\n' <<<"$theirs" | grep . | sort | tr '\n' ' ')
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then return 0; fi
    echo "ours:   $ours" >&2
    echo "theirs: $theirs" >&2
    return 1
}
for t in "www.example.test A" "two.example.test A" "www.example.test AAAA" "txt.example.test TXT"; do
    # shellcheck disable=SC2086 # NAME TYPE
    tap_check "same as dig +tls: $t" same_as dig $t
done
if command -v kdig >/dev/null; then
    tap_check "same as kdig (DoT): two.example.test A" same_as kdig two.example.test A
else
    tap_not_ok "same as kdig (DoT): kdig is not installed (scripts/install-deps.sh test)"
fi

# ---- the proxy, under its sandbox, resolves through DoT ---------------------------------------
nsenter --net="$SRV" /usr/bin/python3 "$W_E2E_DIR/lib/httpserve.py" 203.0.113.80 80 \
    "served by the upstream" >"$D/http.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -q ready "$D/http.out"
run_proxy() { # RESOLVER LOG: a proxy on the host namespace's 127.0.0.1:15380
    nsenter --net="$W_HOSTNS_PATH" "$proxy" --user nobody --container-id e2e-dot \
        --listen-http 127.0.0.1:15380 --allow www.example.test --resolver "$1" \
        --log-file "$2" --log-rate 0 --ready-fd 5 5>"$D/ready" 2>"$D/proxy.err" &
    PROXY_PID=$!
    W_PIDS+=("$PROXY_PID")
    wait_until 10 grep -q . "$D/ready"
}
via_proxy() {
    nsenter --net="$W_HOSTNS_PATH" curl -sS -m 10 --connect-to ::127.0.0.1:15380 \
        http://www.example.test/ 2>&1
}
run_proxy "$(tls_url ";pin-sha256=$PIN")" "$D/proxy.log"
tap_check "proxy: ready with a tls:// resolver" grep -q '^R' "$D/ready"
tap_check "proxy: seccomp filter on" grep -Eq '^Seccomp:[[:space:]]+2' "/proc/$PROXY_PID/status"
out=$(via_proxy)
check_has "proxy: an allowed name resolved over DoT under the sandbox is relayed" "$out" '^served by the upstream$'
tap_check "proxy: still alive afterwards (no SIGSYS)" kill -0 "$PROXY_PID"
kill "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null
run_proxy "tls://$DOT#dns.test;pin-sha256=$OTHER_PIN" "$D/proxy2.log"
out=$(via_proxy)
tap_check "proxy, pin wrong: the request is not relayed" bash -c "! grep -q 'served by the upstream' <<<\"\$1\"" _ "$out"
tap_check "proxy, pin wrong: the proxy's log has the resolver's line" \
    grep -q '"event":"resolver_tls_failure".*"failure":"pin"' "$D/proxy2.log"
kill "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null

# ---- the stub's forward zones over DoT: a failed pin is logged there too ------------------
run_stub() { # UPSTREAM LOG PORT: a stub forwarding example.test on the host namespace's PORT
    nsenter --net="$W_HOSTNS_PATH" "$stub" --user nobody --container-id e2e-dot-stub \
        --listen "127.0.0.1:$3" --forward "example.test=$1" --log-file "$2" --log-rate 0 \
        2>"$2.err" &
    STUB_PID=$!
    W_PIDS+=("$STUB_PID")
    wait_until 10 nsenter --net="$W_HOSTNS_PATH" dig +time=1 +tries=1 -p "$3" @127.0.0.1 \
        +short ready.invalid >/dev/null
}
via_stub() { # PORT NAME
    nsenter --net="$W_HOSTNS_PATH" dig +time=5 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>&1
}
stub_log_has() { # LOG FAILURE
    grep -q "\"event\":\"resolver_tls_failure\",\"container\":\"e2e-dot-stub\".*\"failure\":\"$2\"" "$1"
}
run_stub "tls://$DOT#dns.test;pin-sha256=$PIN" "$D/stub.log" 15390
out=$(via_stub 15390 www.example.test)
check_has "stub, pin right: a forward zone's name resolves over DoT under the sandbox" "$out" \
    'www.example.test.*IN.*A.*203.0.113.80'
tap_check "stub, pin right: no failure logged" bash -c "! grep -q resolver_tls_failure '$D/stub.log'"
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null
run_stub "tls://$DOT#dns.test;pin-sha256=$OTHER_PIN" "$D/stub2.log" 15391
out=$(via_stub 15391 stubpin.example.test)
check_has "stub, pin wrong: SERVFAIL" "$out" 'status: SERVFAIL'
tap_check "stub, pin wrong: the stub's log says why, as the proxy's does (resolver_tls_failure, pin)" \
    eval 'stub_log_has "$D/stub2.log" pin && grep -qF "$PIN" "$D/stub2.log"' ||
    tap_diag_file "$D/stub2.log" 5
tap_check "stub, pin wrong: ... next to the query's own line (outcome failed)" \
    grep -q '"qname":"stubpin.example.test".*"outcome":"failed"' "$D/stub2.log"
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null

tap_done
