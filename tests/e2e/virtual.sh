#!/bin/bash
# virtual.sh: virtual addresses for names allowed with a port, inside containers run by runc,
# crun and podman. The test world gets a server namespace with 203.0.113.90: a TCP echo on 5432 and
# 5433 and a small HTTP server on 80 (virtual-client.py serve); the world's resolver answers
# db.example.test and web.example.test with that address (the proxy asks it from the host
# namespace); any other name leads to the canary. The container (policy
# "db.example.test:5432 db.example.test web.example.test") runs virtual-client.py:
#   - dig and getaddrinfo give db.example.test an address of 198.18.0.0/15 (AAAA: of
#     fd64:6a69:6c00::/64), the same for every spelling; web.example.test (no port) and an
#     unlisted name get the sinkhole;
#   - TCP to that address on 5432 reaches the echo through the proxy (IPv4 and IPv6);
#   - the same address on 5433 is reset by the proxy; the echo on 5433 never sees it (the
#     control: it answers from the host namespace);
#   - HTTP to the virtual address with Host db.example.test reaches the site; with Host
#     web.example.test (allowed itself, as the control through the sinkhole address shows) it
#     is refused with 403, because the address belongs to db.example.test;
#   - TLS to the virtual address: the same, by the server name (nothing serves TLS there, so
#     the proxy's decision in its log is what is checked);
#   - UDP to the virtual address goes nowhere;
#   - the unlisted name never reaches the world's resolver (control: a name asked from the
#     host namespace does).
# After each container: no daemons, no state, no table. Then the stub alone, with a bound of
# two names: stable addresses, LRU recycling, the log's "recycled".
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun podman dnsmasq dig nft python3
world_require_build

SERVER_IP=203.0.113.90
HOSTNS_IP=192.0.2.254
TAG=$(world_random)
CLIENT=$W_E2E_DIR/virtual-client.py
ALLOW="db.example.test:5432 db.example.test web.example.test" # podman splits annotations at commas

world_dns_answer db.example.test "$SERVER_IP"
world_dns_answer web.example.test "$SERVER_IP"
world_up
# See proxy-runtimes.sh: the bridge's MAC must not change under the host namespace's cache.
ip -n "$W_INET" link set djbr address 02:00:00:00:00:01 || tap_bail "cannot pin the bridge's MAC"
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_servers_ns vsrv 203.0.113.88/29 || tap_bail "cannot make the server namespace"

SRVLOG=$W_TMP/server.log
: >"$SRVLOG"
nsenter --net="$W_SRV_NS" python3 "$CLIENT" serve "$SRVLOG" "$SERVER_IP" \
    >"$W_TMP/server.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/server.out" || {
    tap_diag_file "$W_TMP/server.out"
    tap_bail "the server did not start"
}
# podman gets hooks.d files for the build tree's hook and this run's config.
PODMAN_HOOKSD=$W_TMP/v-hooks.d
mkdir -p "$PODMAN_HOOKSD"
for stage in prestart poststop; do
    cat >"$PODMAN_HOOKSD/dnsjail-$stage.json" <<JSON
{
  "version": "1.0.0",
  "hook": {"path": "$W_HOOK", "args": ["dnsjail-hook", "--config", "$W_CONF", "$stage"], "timeout": 10},
  "when": {"annotations": {"^io\\\\.dnsjail\\\\.": ".*"}},
  "stages": ["$stage"]
}
JSON
done
PT=$W_TMP/pt
mkdir -p "$PT" && chmod 755 "$PT" && install -m 644 "$CLIENT" "$PT/virtual-client.py" ||
    tap_bail "cannot install the client"

expect() { # DESCRIPTION LABEL EXPR; on failure the probe's line goes into the TAP output
    tap_check "$1" python3 "$CLIENT" expect "$RUN_OUT" "$2" "$3" ||
        tap_diag "$(grep -F "\"label\": \"$2\"" "$RUN_OUT")"
}
plog() { python3 "$CLIENT" any "$W_LOG" "r.get('container') == '$CID' and ($1)"; }
plog_none() { python3 "$CLIENT" none "$W_LOG" "r.get('container') == '$CID' and ($1)"; }
srvlog() { python3 "$CLIENT" any "$SRVLOG" "$1"; }
srvlog_none() { python3 "$CLIENT" none "$SRVLOG" "$1"; }
in_pool4() { python3 -c 'import ipaddress, sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network("198.18.0.0/15") else 1)' "$1"; }

tap_plan 87

# ---- controls: the world works without any jail -------------------------------------------
tap_check "control: the world's resolver answers db.example.test with the server's address" \
    eval '[ "$(nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @192.0.2.1 db.example.test)" = "$SERVER_IP" ]'
tap_check "control: the echo answers on port 5432 from the host namespace" \
    eval 'printf "control-5432\n" | nsenter --net="$W_HOSTNS_PATH" timeout 5 python3 -c "import socket,sys; s=socket.create_connection((sys.argv[1], 5432), 5); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode())" "$SERVER_IP" | grep "^echo-5432 control-5432" >/dev/null'
tap_check "control: ... and on port 5433" \
    eval 'printf "control-5433\n" | nsenter --net="$W_HOSTNS_PATH" timeout 5 python3 -c "import socket,sys; s=socket.create_connection((sys.argv[1], 5433), 5); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode())" "$SERVER_IP" | grep "^echo-5433 control-5433" >/dev/null'
tap_check "control: a name asked from the host namespace reaches the canary resolver" \
    eval 'nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @192.0.2.1 control-$TAG.test >/dev/null && wait_until 5 canary_saw_dns "control-$TAG.test"'

for rt in runc crun podman; do
    world_ctns "v$rt" || tap_bail "cannot make a namespace"
    NS=$W_NS
    ID=$W_ID-virtual-$rt
    if [ "$rt" = podman ]; then
        run_podman "$ID" "$NS" "$PODMAN_HOOKSD" --annotation "io.dnsjail.allow=$ALLOW" \
            -v "$PT:/pt:ro" -- /usr/bin/python3 /pt/virtual-client.py run "$TAG"
    else
        b=$(world_bundle "$ID" --netns "$NS" --annotation "io.dnsjail.allow=$ALLOW" \
            --hook "$W_HOOK" --hook-config "$W_CONF" --bind "$PT:/pt" \
            -- /usr/bin/python3 /pt/virtual-client.py run "$TAG") || tap_bail "cannot make a bundle"
        "run_$rt" "$ID" "$b"
    fi
    CID=$RUN_CID
    w=$rt
    tap_check "$w: the container ran to the end" \
        eval 'test "$RUN_RC" -eq 0 && grep -q "\"label\": \"done\"" "$RUN_OUT"' || {
        tap_diag_file "$RUN_OUT"
        tap_diag_file "$RUN_ERR"
    }
    expect "$w: dig db.example.test gets one address of the IPv4 pool" dig \
        "len(r['answers']) == 1 and r['answers'][0].startswith('198.1')"
    A4=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["label"] == "dig": print(r["answers"][0] if r["answers"] else "")' "$RUN_OUT" 2>/dev/null)
    tap_check "$w: ... inside 198.18.0.0/15 ($A4)" in_pool4 "${A4:-none}"
    expect "$w: getaddrinfo gives the same address, and the same for DB.Example.Test." resolve \
        "r['v4'] == ['$A4'] and r['again'] == ['$A4']"
    expect "$w: AAAA gives an address of fd64:6a69:6c00::/64" resolve \
        "len(r['v6']) == 1 and r['v6'][0].startswith('fd64:6a69:6c00:')"
    expect "$w: the unlisted name gets the sinkhole, and so does web.example.test (no port)" \
        resolve "r['other'] == ['6.6.6.6'] and r['web'] == ['6.6.6.6']"
    expect "$w: TCP to $A4:5432 reaches the echo and round-trips bytes" echo4 \
        "r['data'] == 'echo-5432 ping4-$TAG\n'"
    expect "$w: ... and over IPv6 to the AAAA address" echo6 "r['data'] == 'echo-5432 ping6-$TAG\n'"
    tap_check "$w: the echo saw the connections from the host namespace" \
        srvlog "r['kind'] == 'echo' and r['data'] == 'ping4-$TAG\n'"
    expect "$w: the same address on port 5433 is refused (reset, nothing echoed)" other_port \
        "not r.get('data') and ('error' in r or r.get('eof'))"
    tap_check "$w: the echo on 5433 saw nothing of it" srvlog_none "'port5433-$TAG' in r.get('data', '')"
    tap_check "$w: the proxy logged the refusal with the name and the port" \
        plog "r['event'] == 'virtual_connection' and r['decision'] == 'deny' and r['host'] == 'db.example.test' and r['port'] == 5433"
    tap_check "$w: ... and the allowed connection" \
        plog "r['event'] == 'virtual_connection' and r['decision'] == 'allow' and r['host'] == 'db.example.test' and r['port'] == 5432 and r['virtual_address'] == '$A4'"
    tap_check "$w: the stub logged the virtual answer" \
        plog "r['event'] == 'dns_query' and r['qname'] == 'db.example.test' and r.get('outcome') == 'virtual' and r['answer'] == '$A4'"
    expect "$w: HTTP to the virtual address with Host db.example.test reaches the site" \
        http_match "r['code'] == 200 and 'host=db.example.test path=/match-$TAG' in r['data']"
    expect "$w: HTTP to the virtual address with Host web.example.test is refused (403)" \
        http_mismatch "r['code'] == 403 and 'db.example.test' in r['data']"
    tap_check "$w: ... the site never saw it, and the proxy logged why" \
        eval 'srvlog_none "r.get(\"path\") == \"/mismatch-$TAG\"" && plog "r[\"event\"] == \"http_request\" and r[\"decision\"] == \"deny\" and \"belongs to db.example.test\" in r[\"reason\"]"'
    expect "$w: control: web.example.test itself is allowed over HTTP (through the sinkhole address)" \
        http_web "r['code'] == 200 and 'host=web.example.test path=/web-$TAG' in r['data']"
    # Nothing serves TLS there: allowed, the proxy tried to connect, and says it failed.
    tap_check "$w: TLS to the virtual address with SNI db.example.test is allowed by the proxy (tried: error, could not connect)" \
        plog "r['event'] == 'tls_connection' and r['host'] == 'db.example.test' and r['decision'] == 'error' and r['reason'].startswith('could not connect to db.example.test')"
    tap_check "$w: ... with SNI web.example.test it is refused, the address being db.example.test's" \
        plog "r['event'] == 'tls_connection' and r['host'] == 'web.example.test' and r['decision'] == 'deny' and 'belongs to db.example.test' in r['reason']"
    expect "$w: ... and the client got no handshake" tls_mismatch "'error' in r"
    expect "$w: UDP to the virtual address gets nothing back" udp "'data' not in r"
    tap_check "$w: the unlisted name never reached the world's resolver or the canary" \
        eval 'canary_none "secret-$TAG"'
    tap_check "$w: no dnsjail daemon left for the container" wait_until 5 no_daemon_for "$CID"
    tap_check "$w: no state left, table removed" \
        eval 'state_clean_for "$CID" && state_empty && no_nft_table_in "$NS"'
done

tap_check "the proxy resolved db.example.test from the host namespace" \
    grep -qE "query\[A\] db\.example\.test from $HOSTNS_IP\$" "$W_CANARY_DNS_LOG"

# ---- the stub alone: a bound of two names, recycled least recently answered first --------
SLOG=$W_TMP/stub-alone.log
nsenter --net="$W_HOSTNS_PATH" "$W_STUB_EXE" --user nobody --listen 127.0.0.1:5399 \
    --log-file "$SLOG" --allow "*.lru.test:22" --virtual-max-names 2 >"$W_TMP/stub-alone.out" 2>&1 &
STUB_PID=$!
W_PIDS+=($STUB_PID)
q() { nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @127.0.0.1 -p 5399 "$@"; }
wait_until 5 eval '[ -n "$(q probe.lru.test)" ]' || tap_diag_file "$W_TMP/stub-alone.out"
A=$(q a.lru.test)
B=$(q b.lru.test)
tap_check "stub alone: two names get two different addresses of the pool" \
    eval 'in_pool4 "$A" && in_pool4 "$B" && [ "$A" != "$B" ]'
tap_check "stub alone: asked again, a name keeps its address" eval '[ "$(q a.lru.test)" = "$A" ]'
C=$(q c.lru.test)
tap_check "stub alone: a third name takes the least recently answered one's (b's) address" \
    eval '[ "$C" = "$B" ]'
tap_check "stub alone: ... and the log says it was recycled" \
    python3 "$CLIENT" any "$SLOG" "r.get('qname') == 'c.lru.test' and r.get('outcome') == 'virtual' and r.get('recycled') is True"
tap_check "stub alone: a still keeps its address" eval '[ "$(q a.lru.test)" = "$A" ]'
tap_check "stub alone: MX for an allowed name is an empty answer" \
    eval '[ -z "$(q a.lru.test MX)" ] && nsenter --net="$W_HOSTNS_PATH" dig +time=2 +tries=1 @127.0.0.1 -p 5399 a.lru.test MX | grep -q "status: NOERROR"'
tap_check "stub alone: port 22 of lru.test itself is no rule: sinkhole" eval '[ "$(q lru.test)" = 6.6.6.6 ]'
tap_done
