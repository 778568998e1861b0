#!/bin/bash
# proxy-standalone.sh: runs dnsjail-proxy on its own (--listen-http/--listen-tls on loopback,
# --user nobody, its real seccomp filter) and checks every decision it makes, what it relays
# and how (keep-alive, pipelining, bodies, splice, half-close), its refusals, timeouts, caps,
# log, privileges, control socket and exits. A missing syscall shows up as a proxy killed by
# SIGSYS. Everything runs in a network namespace of its own that has nothing but loopback (and
# a veth pair that leads nowhere, to prove that a refused address is never contacted):
# local test servers play the upstreams, a dnsmasq on 127.0.0.1 the host's resolver.
# Output is TAP; the plan comes last.

script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/tap.sh
. "$script_dir/tap.sh"
# shellcheck source=tests/e2e/daemon.sh
. "$script_dir/daemon.sh"
top_builddir=${top_builddir:-$script_dir/../..}
proxy=$(cd "$top_builddir" 2>/dev/null && pwd)/proxy/dnsjail-proxy


[ "$(id -u)" = 0 ] || tap_skip_all "needs root (a network namespace of its own; drops to nobody)"
for cmd in python3 curl openssl dnsmasq unshare ip nft sha256sum timeout; do
    command -v "$cmd" >/dev/null 2>&1 || tap_skip_all "$cmd is not installed"
done
[ -x "$proxy" ] || tap_skip_all "$proxy is not built"
id nobody >/dev/null 2>&1 || tap_skip_all "there is no user nobody"

# A namespace of our own: fixed ports cannot clash with anything, nothing can leave.
if [ -z "${DJ_PROXY_TEST_NETNS:-}" ]; then
    export DJ_PROXY_TEST_NETNS=1
    exec unshare --net -- "$0" "$@"
fi
ip link set lo up || tap_bail "cannot bring up loopback in a new network namespace"
# 10.0.0.1 is routed into a veth pair whose both ends are in this namespace, so a connection
# attempt to it is counted (nft, below) and cannot leave; nothing answers it.
{ ip link add djv0 type veth peer name djv1 && ip addr add 10.0.0.2/24 dev djv0 &&
    ip link set djv0 up && ip link set djv1 up &&
    ip neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev djv0; } ||
    tap_bail "cannot create a veth pair"
nft -f - <<'EOF' || tap_bail "cannot load an nftables table"
table inet djtest {
    counter to_private { }
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr 10.0.0.1 counter name to_private
    }
}
EOF

WORK=$(mktemp -d /tmp/djt-proxy.XXXXXX) || tap_bail "cannot create a temporary directory"
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


# ---- python helpers: servers, exact bytes on the wire, TLS tricks, fd passing, JSON ---------
PROXYTOOL=$script_dir/lib/proxytool.py
tool() { /usr/bin/python3 "$PROXYTOOL" "$@"; }

private_packets() { nft list counter inet djtest to_private | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

HTTP=15380
TLS=15443
LOG=$WORK/proxy.log
CTL=$WORK/control.sock
ulimit -n 16384

# ---- the world: certificate, resolver, upstreams -------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=allowed.test \
    -addext "subjectAltName=DNS:allowed.test,DNS:*.example.test" >/dev/null 2>&1 ||
    tap_bail "openssl cannot make a certificate"
dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port=53 --local=/test/ \
    --address=/allowed.test/127.0.0.1 --address=/example.test/127.0.0.1 \
    --address=/evilexample.test/127.0.0.1 --address=/private.test/10.0.0.1 \
    --address=/fallback.test/127.0.0.1 --address=/fallback.test/::1 \
    --address=/echo.test/127.0.0.2 --address=/v6.test/::1 \
    --pid-file="$WORK/dnsmasq.pid" 2>"$WORK/dnsmasq.err" &
PIDS+=($!)
/usr/bin/python3 "$PROXYTOOL" servers "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/servers.out" 2>&1 &
PIDS+=($!)
for i in $(seq 300); do
    grep -q ready "$WORK/servers.out" 2>/dev/null && break
    sleep 0.1
done
grep -q ready "$WORK/servers.out" || tap_bail "the upstream servers did not start: $(cat "$WORK/servers.out")"

# gone.test is allowed but does not resolve (dnsmasq's --local=/test/ says NXDOMAIN).
RULES="allowed.test *.example.test private.test fallback.test echo.test v6.test gone.test"

# ---- start the proxy -----------------------------------------------------------------------
sleep 300 &
WATCHED=$!
PIDS+=("$WATCHED")
/usr/bin/python3 "$PROXYTOOL" launch "$CTL" "$WATCHED" "$proxy" --user nobody \
    --container-id e2e-proxy --listen-http "127.0.0.1:$HTTP" --listen-http "[::1]:$HTTP" \
    --listen-tls "127.0.0.1:$TLS" --allow "$RULES" --resolver 127.0.0.1 \
    --upstream-allow 127.0.0.0/8 --upstream-allow ::1 --log-file "$LOG" --log-rate 0 \
    --control-fd "{CTL}" --watch-pidfd "{PIDFD}" --ready-fd 5 \
    5>"$WORK/ready" 2>"$WORK/stderr" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
ready=$(wait_ready "$WORK/ready")
if [ "$ready" = R ]; then
    tap_ok "proxy reported ready on --ready-fd"
else
    tap_not_ok "proxy reported ready on --ready-fd (got '$ready')"
    tap_diag <"$WORK/stderr"
    tap_done
fi

status=$(cat "/proc/$PROXY_PID/status")
tap_check "runs as nobody" grep -Eq "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]" <<<"$status"
tap_check "no capabilities" grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$status"
tap_check "no_new_privs and a seccomp filter" \
    bash -c 'grep -Eq "^NoNewPrivs:[[:space:]]+1" <<<"$1" && grep -Eq "^Seccomp:[[:space:]]+2" <<<"$1"' _ "$status"

via_http() { curl -sS -m 10 --connect-to "::127.0.0.1:$HTTP" "$@"; }
via_tls() { curl -sS -k -m 10 --connect-to "::127.0.0.1:$TLS" "$@"; }
raw() { tool raw "$HTTP" "$@" | tr -d '\r'; }

# ---- HTTP decisions ------------------------------------------------------------------------
out=$(via_http http://allowed.test/hello)
tap_check_out "HTTP: an allowed host is relayed" "host=allowed.test path=/hello" "$out"

out=$(via_http -i http://denied.test/x)
tap_check "HTTP: a denied host gets 403" grep -q '^HTTP/1.1 403 Forbidden' <<<"$out"
tap_check "HTTP: the 403 body names the host and the annotation" \
    grep -q 'denied.test is not allowed.*' <<<"$out"
tap_check "HTTP: ... and says to add it to io.dnsjail.allow" \
    grep -q 'add denied.test to the container.s io.dnsjail.allow annotation' <<<"$out"

out=$(raw 'GET /first HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET /second HTTP/1.1\r\nHost: denied.test\r\n\r\n')
tap_check "keep-alive: the first request is relayed" grep -q 'path=/first' <<<"$out"
tap_check "keep-alive: the second, naming another host, gets 403 and the connection closes" \
    bash -c 'grep -q "^HTTP/1.1 403" <<<"$1" && grep -q "<EOF>$" <<<"$1" && ! grep -q "path=/second" <<<"$1"' _ "$out"

out=$(raw 'GET /p1 HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: allowed.test\r\n\r\nHEAD /bytes/7 HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET /p3 HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n')
tap_check_out "pipelining: four requests (one HEAD), four answers in order, then close" \
    "4 path=/p1 path=/p2 path=/p3 <EOF>" \
    "$(grep -c '^HTTP/1.1 200 OK$' <<<"$out") $(grep -oE 'path=/p[0-9]|<EOF>' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"

out=$(via_http http://allowed.test/a http://allowed.test/b -w '%{num_connects}\n')
tap_check "keep-alive: a second request to the same host reuses the connection" \
    bash -c 'grep -q "path=/b" <<<"$1" && [ "$(tail -n1 <<<"$1")" = 0 ]' _ "$out"

out=$(raw 'GET http://other.test/x HTTP/1.1\r\nHost: allowed.test\r\n\r\n')
tap_check "absolute-form target and Host disagreeing: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'GET http://allowed.test/abs HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n')
tap_check "absolute-form target and Host agreeing: relayed" grep -q 'path=http://allowed.test/abs' <<<"$out"
out=$(raw 'GET / HTTP/1.1\r\n\r\n')
tap_check "missing Host: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'POST / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
tap_check "Content-Length with Transfer-Encoding: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'POST / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')
tap_check "two Content-Lengths: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'GET / HTTP/1.1\r\nHost: allowed.test\r\nX-A: a\r\n b\r\n\r\n')
tap_check "obs-fold: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(tool raw "$HTTP" "GET / HTTP/1.1\\r\\nHost: allowed.test\\r\\nX-Big: $(head -c 40000 /dev/zero | tr '\0' a)\\r\\n\\r\\n" | tr -d '\r')
tap_check "a header section over the limit: 431" grep -q '^HTTP/1.1 431 ' <<<"$out"
out=$(raw 'CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n')
tap_check "CONNECT: 405" grep -q '^HTTP/1.1 405 ' <<<"$out"
out=$(raw 'GET / HTTP/1.1\r\nHost: allowed.test:8080\r\n\r\n')
tap_check "a Host port other than the destination's: 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
tap_check "an IP literal Host: 403 (only CIDR rules reach addresses)" grep -q '^HTTP/1.1 403 ' <<<"$out"

out=$(via_http -i http://evilexample.test/)
tap_check "evilexample.test against *.example.test: 403" grep -q '^HTTP/1.1 403 ' <<<"$out"
out=$(via_http http://deep.sub.example.test/w)
tap_check_out "*.example.test allows a name at any depth below it" "host=deep.sub.example.test path=/w" "$out"
out=$(via_http -i http://example.test/)
tap_check "*.example.test does not allow example.test itself" grep -q '^HTTP/1.1 403 ' <<<"$out"
out=$(raw 'GET /case HTTP/1.1\r\nHost: ALLOWED.Test.\r\nConnection: close\r\n\r\n')
tap_check "mixed case and a trailing dot match allowed.test" grep -q 'path=/case' <<<"$out"

before=$(private_packets)
out=$(via_http -i http://private.test/)
tap_check "a name resolving to 10.0.0.1: 403 naming the address" \
    bash -c 'grep -q "^HTTP/1.1 403 " <<<"$1" && grep -q "10.0.0.1" <<<"$1"' _ "$out"
tap_check_out "... and 10.0.0.1 was never contacted (no packet to it)" "$before" "$(private_packets)"

out=$(via_http http://fallback.test/fb)
tap_check_out "an address that refuses ([::1]:80) is skipped for the next (127.0.0.1)" "host=fallback.test path=/fb" "$out"
tap_check "... the log names the upstream that answered" \
    tool find-line "$LOG" host='"fallback.test"' upstream='"127.0.0.1:80"'

out=$(tool raw6 "$HTTP" 'GET /v6client HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n' | tr -d '\r')
tap_check "a client on [::1] is served" grep -q 'path=/v6client' <<<"$out"

# ---- HTTP relaying -------------------------------------------------------------------------
head -c 100000000 /dev/urandom >"$WORK/big.bin"
want=$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)
out=$(via_http -m 60 --data-binary @"$WORK/big.bin" http://allowed.test/upload)
tap_check_out "HTTP: 100 MB upload with Content-Length arrives intact" "$want 100000000" "$out"
out=$(via_http -m 60 -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big.bin" http://allowed.test/upload)
tap_check_out "HTTP: 100 MB chunked upload arrives intact" "$want 100000000" "$out"
want=$(python3 -c 'import hashlib,sys; b=bytes(range(256))*4096; h=hashlib.sha256(); n=100000000
while n: k=min(n,len(b)); h.update(b[:k]); n-=k
print(h.hexdigest())')
out=$(via_http -m 60 http://allowed.test/bytes/100000000 | sha256sum | cut -d' ' -f1)
tap_check_out "HTTP: 100 MB download arrives intact" "$want" "$out"
out=$(via_http http://allowed.test/chunked http://allowed.test/hello)
tap_check_out "a chunked response, then the next request on the connection" \
    "hello chunked world
host=allowed.test path=/hello" "$out"
out=$(raw 'GET /close HTTP/1.1\r\nHost: allowed.test\r\n\r\n')
tap_check "a response delimited by the server's close is relayed, then the client is closed" \
    bash -c 'grep -q "^delimited by close$" <<<"$1" && grep -q "<EOF>$" <<<"$1"' _ "$out"
out=$(tool raw "$HTTP" 'GET /halfclose HTTP/1.1\r\nHost: allowed.test\r\n\r\n' shut | tr -d '\r')
tap_check "a client that half-closes after its request still gets the response" \
    bash -c 'grep -q "path=/halfclose" <<<"$1" && grep -q "<EOF>$" <<<"$1"' _ "$out"
out=$(tool halfclose-big "$HTTP" 20000000)
tap_check_out "... even when its response is still arriving (20 MB) after the client's FIN" 20000000 "$out"
out=$(tool raw "$HTTP" 'GET /upgrade HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nafter the switch' shut | tr -d '\r')
tap_check "101 Switching Protocols turns into a tunnel to the same host" \
    bash -c 'grep -q "^HTTP/1.1 101 " <<<"$1" && grep -q "after the switch<EOF>$" <<<"$1"' _ "$out"

# ---- TLS -----------------------------------------------------------------------------------
out=$(via_tls https://allowed.test/tls)
tap_check_out "TLS: an allowed name is relayed (curl)" "host=allowed.test path=/tls" "$out"
out=$(via_tls https://denied.test/ 2>&1)
tap_check "TLS: a denied name gets the access_denied alert (curl)" grep -q 'alert access denied' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -servername denied.test 2>&1)
tap_check "TLS: ... (openssl s_client: alert number 49)" grep -q 'alert number 49' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -noservername 2>&1)
tap_check "TLS: no SNI gets the alert" grep -q 'alert number 49' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -servername 127.0.0.1 2>&1)
tap_check "TLS: an IP address as SNI gets the alert" grep -q 'alert number 49' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -servername evilexample.test 2>&1)
tap_check "TLS: evilexample.test against *.example.test gets the alert" grep -q 'alert number 49' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -servername private.test 2>&1)
tap_check "TLS: a name resolving to 10.0.0.1 gets the alert" grep -q 'alert number 49' <<<"$out"
tap_check_out "... and 10.0.0.1 was never contacted" "$before" "$(private_packets)"
for mode in whole segments records both; do
    out=$(tool tls-get "$TLS" allowed.test "$mode" "/$mode")
    tap_check_out "TLS: ClientHello sent $mode" "host=allowed.test path=/$mode" "$out"
done
out=$(tool tls-get "$TLS" denied.test both)
tap_check "TLS: a denied ClientHello in pieces gets the alert" grep -q 'ALERT_ACCESS_DENIED' <<<"$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -servername ALLOWED.Test. 2>&1)
tap_check "TLS: mixed case and a trailing dot in SNI match allowed.test" \
    bash -c 'grep -q "^New, TLS" <<<"$1" && ! grep -q "alert" <<<"$1"' _ "$out"
tap_check "... (the log shows the name as sent)" \
    tool find-line "$LOG" event='"tls_connection"' host='"ALLOWED.Test."' decision='"allow"'
out=$(tool raw "$TLS" 'GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n')
tap_check_out "TLS: non-TLS bytes are closed without an answer" "<EOF>" "$out"
out=$(tool tls-echo "$TLS" echo.test)
tap_check_out "TLS: the hello and what followed are replayed, half-close goes both ways" echoed "$out"
out=$(tool tls-echo "$TLS" v6.test)
tap_check_out "TLS: an IPv6 upstream ([::1]:443)" echoed "$out"
want=$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)
out=$(via_tls -m 60 --data-binary @"$WORK/big.bin" https://allowed.test/upload)
tap_check_out "TLS: 100 MB upload arrives intact" "$want 100000000" "$out"
want=$(via_http -m 60 http://allowed.test/bytes/100000000 | sha256sum | cut -d' ' -f1)
out=$(via_tls -m 60 https://allowed.test/bytes/100000000 | sha256sum | cut -d' ' -f1)
tap_check_out "TLS: 100 MB download arrives intact" "$want" "$out"
out=$(via_tls -m 60 --limit-rate 10M -H 'Connection: close' https://allowed.test/bytes/20000000 | sha256sum | cut -d' ' -f1)
tap_check_out "TLS: a slow reader gets everything an upstream sent before it closed" \
    "$(via_http -m 60 http://allowed.test/bytes/20000000 | sha256sum | cut -d' ' -f1)" "$out"
rm -f "$WORK/big.bin"

# ---- many connections ----------------------------------------------------------------------
out=$(tool many 1000 "$HTTP" http)
tap_check_out "HTTP: 1000 concurrent connections, all answered while all are open" \
    "answered-while-open=1000 right=1000" "$out"
out=$(tool many 1000 "$TLS" tls)
tap_check_out "TLS: 1000 concurrent connections, all answered while all are open" \
    "answered-while-open=1000 right=1000" "$out"
tap_check "the proxy is still alive (no SIGSYS on any path so far)" alive "$PROXY_PID"

# ---- an allowed name that does not resolve: an error, never "allow" ----------------------------
out=$(via_http -s -o /dev/null -w '%{http_code}' http://gone.test/gone)
tap_check_out "HTTP: an allowed name that does not resolve gets 502" 502 "$out"
via_tls -s -o /dev/null https://gone.test/gone 2>/dev/null
tap_check "TLS: an allowed name that does not resolve: the connection is closed (curl fails)" \
    test $? -ne 0

# ---- the log -------------------------------------------------------------------------------
out=$(tool check-log "$LOG" e2e-proxy)
tap_check "every log line is JSON with the documented fields" test $? = 0
echo "$out" | tap_diag
tap_check "log: a denied request with its reason" \
    tool find-line "$LOG" event='"http_request"' host='"denied.test"' decision='"deny"' reason='"not in the allow list"' status=403
tap_check "log: an allowed request with method, path and status" \
    tool find-line "$LOG" event='"http_request"' host='"allowed.test"' method='"GET"' path='"/hello"' decision='"allow"' status=200
tap_check "log: the refused private address" \
    tool find-line "$LOG" host='"private.test"' decision='"deny"' reason='"private.test resolves to internal address 10.0.0.1"'
tap_check "log: HTTP to an allowed name that did not resolve: decision error, with the reason" \
    tool find-line "$LOG" event='"http_request"' host='"gone.test"' decision='"error"' reason='"could not resolve gone.test: no such name"' status=502
tap_check "log: TLS to an allowed name that did not resolve: decision error, with the reason" \
    tool find-line "$LOG" event='"tls_connection"' host='"gone.test"' decision='"error"' reason='"could not resolve gone.test: no such name"'
tap_check "log: no line about gone.test says allow" \
    bash -c '! grep "\"host\":\"gone.test\"" "$1" | grep -q "\"decision\":\"allow\""' _ "$LOG"
tap_check "log: a TLS connection with its bytes each way" tool echo-bytes "$LOG"
tap_check "log: a TLS connection without SNI" \
    tool find-line "$LOG" event='"tls_connection"' host=null reason='"no server name (SNI) in the ClientHello"'

# ---- control socket, watched processes, signals ----------------------------------------------
tap_check_out "control: P answers K" K "$(tool control "$CTL" P)"
sleep 300 &
SECOND=$!
PIDS+=("$SECOND")
tap_check_out "control: W with a pidfd answers K" K "$(tool control "$CTL" W "$SECOND")"
kill "$WATCHED"
wait "$WATCHED" 2>/dev/null
# A ping answered after the exit proves the proxy went past it: the pidfd was readable before
# the ping connected, and the proxy handles every event of one epoll wake-up before the next.
out=$(tool control "$CTL" P)
tap_check "one watched process exiting leaves the proxy running" eval '[ "$out" = K ] && alive "$PROXY_PID"'
kill "$SECOND"
wait "$SECOND" 2>/dev/null
wait_exit "$PROXY_PID" 30
tap_check_out "the last watched process exiting ends the proxy (exit 0)" 0 "$exit_status"

# ---- a second proxy: timeouts, the connection cap, quit, a control that 10.0.0.1 is seen ---
LOG2=$WORK/proxy2.log
CTL2=$WORK/control2.sock
/usr/bin/python3 "$PROXYTOOL" launch "$CTL2" - "$proxy" --user nobody --container-id e2e-2 \
    --listen-http "127.0.0.1:$HTTP" --listen-tls "127.0.0.1:$TLS" --allow "$RULES" \
    --resolver 127.0.0.1:53 --upstream-allow 127.0.0.0/8 --upstream-allow 10.0.0.0/8 \
    --log-file "$LOG2" --log-rate 0 --control-fd "{CTL}" --handshake-timeout 1 \
    --idle-timeout 2 --max-connections 5 --ready-fd 5 5>"$WORK/ready2" 2>"$WORK/stderr2" &
PROXY2_PID=$!
PIDS+=("$PROXY2_PID")
tap_check_out "second proxy ready" R "$(wait_ready "$WORK/ready2")"
out=$(tool silent-closed "$TLS" "" 5)
tap_check "handshake timeout: a TLS client that sends nothing is closed after ~1 s" \
    bash -c 'read -r what secs <<<"$1"; [ "$what" = EOF ] && awk -v s="$secs" "BEGIN{exit !(s >= 0.9 && s < 3.5)}"' _ "$out"
out=$(tool silent-closed "$HTTP" $'GET / HTTP/1.1\r\nHost: allowed' 5)
tap_check "handshake timeout: an unfinished request head gets 408" grep -q '^HTTP/1.1 408 ' <<<"$out"
out=$(tool idle-closed "$TLS" echo.test 8)
tap_check "idle timeout: a silent relayed connection is closed after ~2 s" \
    bash -c 'read -r what secs <<<"$1"; [ "$what" = closed ] && awk -v s="$secs" "BEGIN{exit !(s >= 1.9 && s < 4.5)}"' _ "$out"
out=$(tool hold-open "$HTTP" 5 2)
tap_check_out "--max-connections 5: a sixth connection is closed at once" closed "$out"
tap_check "... and logged" tool find-line "$LOG2" reason='"too many connections (--max-connections)"'
sleep 0.3
before=$(private_packets)
via_http -m 10 -o /dev/null http://private.test/ 2>/dev/null
tap_check "control: with --upstream-allow 10.0.0.0/8 the proxy does try 10.0.0.1 (so the count above would see it)" \
    test "$(private_packets)" -gt "$before"
tap_check_out "control: Q answers K, then the connection ends" "K eof" "$(tool control "$CTL2" Q)"
wait_exit "$PROXY2_PID" 30
tap_check_out "Q ends the proxy (exit 0)" 0 "$exit_status"

# ---- transparent: listeners in a "container" namespace, redirected there ------------------
# As the hook sets it up: the container's namespace redirects tcp 80 and 8080 to the HTTP
# listener and 443 to the TLS one; the listeners were bound there and are served from here;
# the original destination (SO_ORIGINAL_DST, IPv4 and IPv6) gives the port the policy sees.
unshare --net sleep 600 &
CTR=$!
PIDS+=("$CTR")
sleep 0.2
if nsenter --net="/proc/$CTR/ns/net" sh -e -c '
    ip link set lo up
    ip link add c0 type veth peer name c1
    ip link set c0 up
    ip link set c1 up
    ip addr add 192.0.2.1/24 dev c0
    ip addr add 2001:db8::1/64 dev c0 nodad
    nft -f - <<EOF
table inet djctr {
    chain nat_out {
        type nat hook output priority -100; policy accept;
        tcp dport { 80, 8080 } redirect to :15380
        tcp dport 443 redirect to :15443
    }
}
EOF' 2>"$WORK/ctr.err"; then
    LOG3=$WORK/proxy3.log
    /usr/bin/python3 "$PROXYTOOL" launch-netns "$CTR" "$proxy" --user nobody --container-id e2e-3 \
        --inherit-http "{H4}" --inherit-http "{H6}" --inherit-tls "{T4}" --allow allowed.test \
        --resolver 127.0.0.1 --upstream-allow 127.0.0.0/8 --log-file "$LOG3" --log-rate 0 \
        --ready-fd 5 5>"$WORK/ready3" 2>"$WORK/stderr3" &
    PROXY3_PID=$!
    PIDS+=("$PROXY3_PID")
    tap_check_out "transparent: proxy with inherited listeners ready" R "$(wait_ready "$WORK/ready3")"
    in_ctr() { nsenter --net="/proc/$CTR/ns/net" "$@"; }
    out=$(in_ctr curl -sS -m 10 --resolve allowed.test:80:192.0.2.10 http://allowed.test/orig4)
    tap_check_out "transparent: HTTP to 192.0.2.10:80 reaches allowed.test" "host=allowed.test path=/orig4" "$out"
    out=$(in_ctr curl -sS -m 10 --resolve 'allowed.test:80:[2001:db8::10]' http://allowed.test/orig6)
    tap_check_out "transparent: HTTP to [2001:db8::10]:80 reaches allowed.test" "host=allowed.test path=/orig6" "$out"
    out=$(in_ctr curl -sS -m 10 -i --resolve allowed.test:8080:192.0.2.10 http://allowed.test:8080/)
    tap_check "transparent: port 8080 is checked as 8080 (a port-less rule covers 80 and 443 only)" \
        bash -c 'grep -q "^HTTP/1.1 403 " <<<"$1" && grep -q "add allowed.test:8080 to" <<<"$1"' _ "$out"
    out=$(in_ctr curl -sS -k -m 10 --resolve allowed.test:443:192.0.2.10 https://allowed.test/orig-tls)
    tap_check_out "transparent: HTTPS to 192.0.2.10:443 reaches allowed.test" "host=allowed.test path=/orig-tls" "$out"
    out=$(in_ctr curl -sS -k -m 10 --resolve denied.test:443:192.0.2.10 https://denied.test/ 2>&1)
    tap_check "transparent: HTTPS to a denied name gets the alert" grep -q 'alert access denied' <<<"$out"
    tap_check "transparent: the log has the original ports" \
        bash -c '/usr/bin/python3 "$1" find-line "$2" path="\"/orig4\"" port=80 &&
                 /usr/bin/python3 "$1" find-line "$2" host="\"allowed.test\"" port=8080 decision="\"deny\"" &&
                 /usr/bin/python3 "$1" find-line "$2" event="\"tls_connection\"" port=443 decision="\"allow\""' \
        _ "$PROXYTOOL" "$LOG3"
    kill -TERM "$PROXY3_PID"
    wait_exit "$PROXY3_PID" 30
    tap_check_out "transparent: SIGTERM ends the proxy (exit 0)" 0 "$exit_status"
else
    tap_not_ok "transparent: cannot set up the container namespace"
    tap_diag <"$WORK/ctr.err"
fi

# ---- startup errors ------------------------------------------------------------------------
"$proxy" --user nobody --listen-http "127.0.0.1:$HTTP" --allow 'good.test, bad..test' \
    --resolver 127.0.0.1 --ready-fd 5 5>"$WORK/ready4" 2>/dev/null
rc=$?
msg=$(cat "$WORK/ready4")
tap_check "a malformed rule fails the start and quotes the entry on the ready pipe" \
    bash -c '[ "$1" != 0 ] && [ "${2:0:1}" = E ] && grep -q "bad..test" <<<"$2"' _ "$rc" "$msg"
"$proxy" --listen-http "127.0.0.1:$HTTP" --allow allowed.test --resolver 127.0.0.1 2>/dev/null
tap_check "refuses to serve as root without --user" test $? != 0
# The hook's configuration (--config-fd, lib/daemonconf.h) goes through the same checks as the
# command line: a bad resolver in it fails the start, and so does a key only the stub takes.
for case in 'a resolver the option refuses|resolver not-an-address|the daemon configuration: --resolver' \
    'a key of the stub|ttl 5|sets ttl, which dnsjail-proxy does not take'; do
    IFS='|' read -r what line reason <<<"$case"
    printf 'dnsjail-daemon-config 1\n%s\n' "$line" >"$WORK/bad.conf"
    "$proxy" --user nobody --listen-http "127.0.0.1:$HTTP" --allow allowed.test \
        --resolver 127.0.0.1 --ready-fd 5 --config-fd 6 5>"$WORK/ready5" 6<"$WORK/bad.conf" \
        2>/dev/null
    rc=$?
    tap_check "--config-fd: $what fails the start (exit $rc)" \
        bash -c '[ "$1" = 1 ] && grep -q "^E.*$3" <<<"$2"' _ "$rc" "$(cat "$WORK/ready5")" "$reason"
done

tap_done
