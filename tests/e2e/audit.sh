#!/bin/bash
# audit.sh: io.dnsjail.mode=audit, inside runc. The test world gets a server namespace with
# 203.0.113.90 (virtual-client.py serve: HTTP on 80, a TCP echo on 5432); the world's resolver
# answers *.sites.test, allowed.test and other.test with that address. The job (job.sh, run in
# the container) resolves a.sites.test, fetches http://a.sites.test/ and http://allowed.test/,
# tries https://a.sites.test/ (nothing serves it: the proxy's decision is what counts), and
# round-trips a line through 203.0.113.90:5432 and sends one UDP datagram to the canary.
#   - enforce mode, allow=allowed.test (the control): the sinkhole, 403, no echo, 200;
#   - audit mode, same rule: the real address, 200, the echo, 200; the log says would_block
#     true for a.sites.test (query and request) and the TCP connection, false for allowed.test;
#   - `dnsjail suggest` on that log gives a value; enforce mode with it runs the job through,
#     and a host the job never tried (other.test) stays denied;
#   - a pod whose members disagree on the mode (audit and enforce in one namespace) is refused.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq curl python3 getent
world_require_build
CLI=$top_builddir/cli/dnsjail
[ -x "$CLI" ] || tap_skip_all "not built: $CLI"

SERVER_IP=203.0.113.90
TAG=$(world_random)
CLIENT=$W_E2E_DIR/virtual-client.py
world_dns_answer sites.test "$SERVER_IP"
world_dns_answer allowed.test "$SERVER_IP"
world_dns_answer other.test "$SERVER_IP"
world_up
ip -n "$W_INET" link set djbr address 02:00:00:00:00:01 || tap_bail "cannot pin the bridge's MAC"
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_servers_ns asrv 203.0.113.88/29 || tap_bail "cannot make the server namespace"
SRVLOG=$W_TMP/server.log
: >"$SRVLOG"
nsenter --net="$W_SRV_NS" python3 "$CLIENT" serve "$SRVLOG" "$SERVER_IP" \
    >"$W_TMP/server.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/server.out" || tap_bail "the server did not start"

# The job, bind-mounted at /pt. Each line: "resolve NAME ADDR", "http HOST STATUS",
# "tcp REPLY" (REPLY "none" when nothing came back).
PT=$W_TMP/pt
mkdir -p "$PT" && chmod 755 "$PT"
cat >"$PT/job.sh" <<EOF
#!/bin/sh
label=\$1
shift
echo "resolve a.sites.test \$(getent ahostsv4 a.sites.test | head -n 1 | cut -d' ' -f1)"
for h in a.sites.test allowed.test "\$@"; do
    echo "http \$h \$(curl -s -o /dev/null -w %{http_code} --max-time 10 http://\$h/)"
done
# Nothing serves TLS there: only the proxy's decision on the SNI name is looked at.
curl -sk -o /dev/null --max-time 10 https://a.sites.test/
/usr/bin/python3 -c '
import socket
try:
    s = socket.create_connection(("$SERVER_IP", 5432), 5)
    s.sendall(b"audit-$TAG\n")
    print("tcp", s.recv(100).decode().strip() or "none")
except OSError as e:
    print("tcp none", e)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"udp-$TAG-'"\$label"'", ("203.0.113.7", 9999))
except OSError as e:
    print("udp none", e)
'
EOF
chmod 755 "$PT/job.sh"

has() { grep -qx -- "$2" "$1"; } # OUTFILE LINE
logged() { python3 "$CLIENT" any "$W_LOG" "r.get('container') == '$1' and ($2)"; } # ID EXPR
job() { # LABEL ANNOTATION... -- [EXTRA HOSTS]
    local label=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts+=(--annotation "$1")
        shift
    done
    shift
    world_ctns "$label" || tap_bail "cannot make a namespace"
    ID=$W_ID-$label
    local b
    b=$(world_bundle "$ID" --netns "$W_NS" "${opts[@]}" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --bind "$PT:/pt" -- /pt/job.sh "$label" "$@") || tap_bail "cannot make a bundle"
    run_runc "$ID" "$b"
}

# ---- the control: enforce mode -------------------------------------------------------------
job enforce io.dnsjail.allow=allowed.test --
tap_check "enforce: the job ran" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "enforce: a.sites.test resolves to the sinkhole" has "$RUN_OUT" "resolve a.sites.test 6.6.6.6" ||
    tap_diag_file "$RUN_OUT"
tap_check "enforce: http://a.sites.test/ denied (403)" has "$RUN_OUT" "http a.sites.test 403"
tap_check "enforce: http://allowed.test/ allowed (200)" has "$RUN_OUT" "http allowed.test 200"
tap_check "enforce: no echo from $SERVER_IP:5432" eval '! grep -q "^tcp echo" "$RUN_OUT"'
tap_check "enforce: tls_connection a.sites.test denied" \
    logged "$ID" "r['event'] == 'tls_connection' and r.get('host') == 'a.sites.test' and r.get('decision') == 'deny'"
tap_check "enforce: the lines carry no would_block" \
    eval '! logged "$ID" "\"would_block\" in r"'

# ---- audit mode ------------------------------------------------------------------------------
job audit io.dnsjail.mode=audit io.dnsjail.allow=allowed.test --
AID=$ID
tap_check "audit: the job ran" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "audit: a.sites.test resolves for real ($SERVER_IP)" \
    has "$RUN_OUT" "resolve a.sites.test $SERVER_IP" || tap_diag_file "$RUN_OUT"
tap_check "audit: http://a.sites.test/ gets 200" has "$RUN_OUT" "http a.sites.test 200"
tap_check "audit: http://allowed.test/ gets 200" has "$RUN_OUT" "http allowed.test 200"
tap_check "audit: TCP to $SERVER_IP:5432 round-trips" has "$RUN_OUT" "tcp echo-5432 audit-$TAG"
tap_check "audit: the server saw the request for a.sites.test" \
    python3 "$CLIENT" any "$SRVLOG" "r.get('kind') == 'http' and r.get('host') == 'a.sites.test'"
tap_check "audit: dns_query a.sites.test would_block true" \
    logged "$AID" "r['event'] == 'dns_query' and r.get('qname') == 'a.sites.test' and r.get('would_block') is True and r.get('outcome') in ('forwarded', 'cached')"
tap_check "audit: dns_query allowed.test would_block false" \
    logged "$AID" "r['event'] == 'dns_query' and r.get('qname') == 'allowed.test' and r.get('would_block') is False"
tap_check "audit: http_request a.sites.test allowed, would_block true, the enforce reason" \
    logged "$AID" "r['event'] == 'http_request' and r.get('host') == 'a.sites.test' and r.get('decision') == 'allow' and r.get('would_block') is True and r.get('reason') == 'not in the allow list' and r.get('status') == 200"
tap_check "audit: http_request allowed.test would_block false" \
    logged "$AID" "r['event'] == 'http_request' and r.get('host') == 'allowed.test' and r.get('would_block') is False"
# Nothing serves TLS at $SERVER_IP: the proxy let it through and tried, so the line says the
# connection failed (decision error), not that the rules refused it.
tap_check "audit: tls_connection a.sites.test let through (tried: error, could not connect), would_block true" \
    logged "$AID" "r['event'] == 'tls_connection' and r.get('host') == 'a.sites.test' and r.get('decision') == 'error' and r.get('reason', '').startswith('could not connect to a.sites.test') and r.get('would_block') is True"
tap_check "audit: tcp_connection $SERVER_IP:5432 would_block true" \
    logged "$AID" "r['event'] == 'tcp_connection' and r.get('dest') == '$SERVER_IP' and r.get('port') == 5432 and r.get('would_block') is True and r.get('decision') == 'allow'"
tap_check "audit: UDP to 203.0.113.7:9999 goes through (audit's limit: unlogged)" \
    wait_until 5 canary_saw_net "udp-$TAG-audit"
tap_check "enforce (after that control): its UDP never arrived" eval 'canary_none_net "udp-$TAG-enforce"'
"$CLI" --config "$W_CONF" logs "$AID" >"$W_TMP/logs.out" 2>&1
tap_check "audit: dnsjail logs marks what would have been blocked" \
    eval 'grep -q "http .*http://a.sites.test:80/ -> allow (not in the allow list) \[would block\]" "$W_TMP/logs.out" &&
          grep -q "tcp .*$SERVER_IP:5432 -> allow .*\[would block\]" "$W_TMP/logs.out" &&
          grep "allowed.test:80/ -> allow" "$W_TMP/logs.out" | grep -vq "would block"' ||
    tap_diag_file "$W_TMP/logs.out" 10

# ---- learning, then enforcing ------------------------------------------------------------------
"$CLI" suggest --container "$AID" "$W_LOG" >"$W_TMP/suggest.out" 2>&1
value=$(sed -n 's/^io\.dnsjail\.allow=//p' "$W_TMP/suggest.out")
tap_check "suggest: a value with the host, the allowed host and the address:port" \
    eval 'for v in a.sites.test allowed.test $SERVER_IP:5432; do
              printf "%s\n" "$value" | tr -d " " | tr , "\n" | grep -qx "$v" || exit 1; done' ||
    tap_diag_file "$W_TMP/suggest.out" 10
job learnt "io.dnsjail.allow=${value// /}" -- other.test
tap_check "enforcing the suggestion: the job ran" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "enforcing the suggestion: http://a.sites.test/ gets 200" has "$RUN_OUT" "http a.sites.test 200" ||
    tap_diag_file "$RUN_OUT"
tap_check "enforcing the suggestion: http://allowed.test/ gets 200" has "$RUN_OUT" "http allowed.test 200"
tap_check "enforcing the suggestion: TCP to $SERVER_IP:5432 round-trips" \
    has "$RUN_OUT" "tcp echo-5432 audit-$TAG"
tap_check "enforcing the suggestion: a host never tried stays denied (403)" \
    has "$RUN_OUT" "http other.test 403"

# ---- a pod that mixes the modes ----------------------------------------------------------------
world_ctns mixed || tap_bail "cannot make a namespace"
MID=$W_ID-mixed-audit
b=$(world_bundle "$MID" --netns "$W_NS" --annotation io.dnsjail.mode=audit --hook "$W_HOOK" \
    --hook-config "$W_CONF" -- /bin/sleep 300) || tap_bail "cannot make a bundle"
W_CONTAINERS+=("runc $MID")
_run_capture "$MID" runc_cmd run -d --bundle "$b" "$MID"
tap_check "mixed pod: the audit member starts" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
nsenter --net="$W_NS" nft list table inet dnsjail >"$W_TMP/audit-table.out" 2>&1
tap_check "audit ruleset: other TCP goes to the virtual listener, the rest is counted and accepted" \
    eval 'grep -q "meta l4proto tcp redirect to :" "$W_TMP/audit-table.out" &&
          grep -q "counter packets .* goto admit" "$W_TMP/audit-table.out" &&
          ! grep -q reject "$W_TMP/audit-table.out"' || tap_diag_file "$W_TMP/audit-table.out" 30
EID=$W_ID-mixed-enforce
b=$(world_bundle "$EID" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    -- /bin/echo ran-unjailed) || tap_bail "cannot make a bundle"
run_runc "$EID" "$b"
tap_check "mixed pod: an enforce member in the same namespace is refused" test "$RUN_RC" -ne 0
tap_check "mixed pod: ... it never ran" eval '! grep -q ran-unjailed "$RUN_OUT"'
tap_check "mixed pod: ... and the error names the conflict" grep -q conflict "$RUN_ERR" ||
    tap_diag_file "$RUN_ERR" 5
runc_cmd delete -f "$MID" >/dev/null 2>&1
tap_check "mixed pod: the audit member's jail is gone with it" wait_until 5 no_daemon_for "$MID"
tap_done
