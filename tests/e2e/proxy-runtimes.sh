#!/bin/bash
# proxy-runtimes.sh: dnsjail-proxy seen from inside containers run by runc, crun and podman.
# The test world gets real sites: an upstream server (proxy-upstream.py: HTTP on
# 203.0.113.80:80, HTTPS on :443 with a certificate made here) in a server namespace behind
# the fake internet, and the world's resolver answers the test's names (allowed.test,
# *.example.test, evilexample.test, big.test -> 203.0.113.80; private.test -> 10.0.0.1;
# down.test -> 203.0.113.81, where nothing listens; nx.test does not exist); any other name
# still leads to the canary. A client (proxy-client.py, bound into the container
# at /pt with the CA) runs curl, busybox wget and raw sockets inside and records what it got;
# the checks here compare that with the proxy's log, the upstream's log (which Host/SNI it
# saw, from which address) and the canaries.
#   runc, policy "allowed.test *.example.test big.test private.test down.test nx.test":
#     everything of issue 3's list (allowed and denied over HTTP and HTTPS with curl and wget,
#     keep-alive and pipelining with a denied Host in the middle, absolute-form against Host,
#     ClientHello split across TCP segments and TLS records, no SNI, IP literals, look-alike
#     names, case and trailing dot, a name resolving to a private address, 100 MB up and down
#     over HTTP (Content-Length and chunked) and HTTPS, 1,000 connections at once over HTTP
#     and over HTTPS), and around it: IPv6 to the proxy, the container's choice of address
#     ignored, bodiless and close-delimited responses on kept-alive connections, Expect:
#     100-continue, a denied POST with its body in flight, allowed names that lead nowhere;
#   runc, policy "203.0.113.0/24:443": the address rule goes around the proxy;
#   crun and podman, policy "allowed.test": allowed and denied, HTTP and HTTPS, curl and wget.
# After each container: no stub or proxy left, no state, no table.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun podman dnsmasq dig curl openssl nft busybox
world_require_build

UPSTREAM_IP=203.0.113.80
HOSTNS_IP=192.0.2.254
BIG=$((100 * 1024 * 1024))
TAG=$(world_random)
DENIED=denied-$TAG.test
CLIENT=$W_E2E_DIR/proxy-client.py

world_dns_answer allowed.test "$UPSTREAM_IP"
world_dns_answer example.test "$UPSTREAM_IP"
world_dns_answer evilexample.test "$UPSTREAM_IP"
world_dns_answer big.test "$UPSTREAM_IP"
world_dns_answer private.test 10.0.0.1
world_dns_answer down.test 203.0.113.81 # routed to the servers, where nothing listens
world_dns_answer nx.test ""             # NXDOMAIN
world_up
# A bridge without an address of its own takes the lowest MAC of its ports, so it changes as
# container namespaces come and go; the host namespace's neighbour entry for 192.0.2.1 then
# points at a MAC no one has until it expires, and the proxy's DNS queries to the world's
# resolver vanish for seconds. Pinned before the host namespace sends anything.
ip -n "$W_INET" link set djbr address 02:00:00:00:00:01 || tap_bail "cannot pin the bridge's MAC"
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_servers_ns upstream 203.0.113.80/28 || tap_bail "cannot make the server namespace"

# ---- the sites ----------------------------------------------------------------------------
PT=$W_TMP/pt
mkdir -p "$PT" && chmod 755 "$PT"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=allowed.test \
    -keyout "$W_TMP/upstream-key.pem" -out "$PT/ca.pem" \
    -addext "subjectAltName=DNS:allowed.test,DNS:*.example.test,DNS:a.b.example.test,DNS:example.test,DNS:evilexample.test,DNS:big.test,DNS:private.test,IP:$UPSTREAM_IP" \
    >"$W_TMP/openssl.out" 2>&1 || {
    tap_diag_file "$W_TMP/openssl.out"
    tap_bail "openssl cannot make the upstream's certificate"
}
install -m 644 "$CLIENT" "$PT/proxy-client.py"
chmod 644 "$PT/ca.pem"

UPLOG=$W_TMP/upstream.log
: >"$UPLOG"
nsenter --net="$W_SRV_NS" python3 "$W_E2E_DIR/proxy-upstream.py" serve "$UPLOG" \
    "$PT/ca.pem" "$W_TMP/upstream-key.pem" "$UPSTREAM_IP" >"$W_TMP/upstream.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/upstream.out" || {
    tap_diag_file "$W_TMP/upstream.out"
    tap_bail "the upstream server did not start"
}

# Counts every packet the host namespace (where the proxy connects from) sends to 10.0.0.1.
nsenter --net="$W_HOSTNS_PATH" nft -f - <<'EOF' || tap_bail "cannot load the counting table"
table inet pe2e_watch {
    counter to_private { }
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr 10.0.0.1 counter name to_private
    }
}
EOF
private_packets() {
    nsenter --net="$W_HOSTNS_PATH" nft list counter inet pe2e_watch to_private |
        sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# podman gets hooks.d files for the build tree's hook and this run's config.
PODMAN_HOOKSD=$W_TMP/pe2e-hooks.d
mkdir -p "$PODMAN_HOOKSD"
for stage in prestart poststop; do
    cat >"$PODMAN_HOOKSD/dnsjail-$stage.json" <<EOF
{
  "version": "1.0.0",
  "hook": {"path": "$W_HOOK", "args": ["dnsjail-hook", "--config", "$W_CONF", "$stage"], "timeout": 10},
  "when": {"annotations": {"^io\\\\.dnsjail\\\\.": ".*"}},
  "stages": ["$stage"]
}
EOF
done

# ---- helpers ------------------------------------------------------------------------------
# expect DESCRIPTION LABEL EXPR: the client's result LABEL satisfies EXPR (`r` is the result).
expect() { tap_check "$1" python3 "$CLIENT" expect "$RUN_OUT" "$2" "$3"; }
# A line of JSON-lines FILE satisfies EXPR / no line does.
jsonl_any() { python3 "$CLIENT" any "$1" "$2"; }
jsonl_none() { python3 "$CLIENT" none "$1" "$2"; }
# The proxy's log (the hook's log file) has a line for container $CID that satisfies EXPR.
plog() { jsonl_any "$W_LOG" "r.get('container') == '$CID' and ($1)"; }
plog_none() { jsonl_none "$W_LOG" "r.get('container') == '$CID' and ($1)"; }
uplog() { jsonl_any "$UPLOG" "$1"; }
uplog_none() { jsonl_none "$UPLOG" "$1"; }
# The world's resolver was asked for exactly NAME (any type), optionally from address FROM.
dns_asked() { # NAME [FROM]
    grep -qE "query\[[A-Z0-9]+\] ${1//./\\.} from ${2:-[0-9a-f.:]+}\$" "$W_CANARY_DNS_LOG"
}
ctr_addr() { nsenter --net="$1" ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }'; }

# pe2e_run RUNTIME ID NSPATH ALLOW SUITE: the client container, jailed, with ALLOW.
pe2e_run() {
    local rt=$1 id=$2 ns=$3 allow=$4 suite=$5 b
    local cmd=(/usr/bin/python3 /pt/proxy-client.py run "$suite" "$TAG")
    if [ "$rt" = podman ]; then
        run_podman "$id" "$ns" "$PODMAN_HOOKSD" --annotation "io.dnsjail.allow=$allow" \
            -v "$PT:/pt:ro" -- "${cmd[@]}"
    else
        b=$(world_bundle "$id" --netns "$ns" --annotation "io.dnsjail.allow=$allow" \
            --hook "$W_HOOK" --hook-config "$W_CONF" --bind "$PT:/pt" -- "${cmd[@]}") || return 1
        # 1,000 sockets at once and a few more: more descriptors than runc's default 1024.
        /usr/bin/python3 "$W_E2E_DIR/lib/ociedit.py" nofile-4096 "$b/config.json" || return 1
        "run_$rt" "$id" "$b"
    fi
    CID=$RUN_CID
}

ran_ok() { # WHAT
    tap_check "$1: the container ran to the end (exit 0)" \
        eval 'test "$RUN_RC" -eq 0 && grep -q "\"label\": \"done\"" "$RUN_OUT"' || _show_run
}

# After the container: nothing of the jail is left.
pe2e_gone() { # WHAT ID NSPATH
    tap_check "$1: no dnsjail-dnsstub or dnsjail-proxy left for the container" \
        wait_until 5 no_daemon_for "$2" || tap_diag "$(daemons_for "$2")"
    tap_check "$1: no stub or proxy of this run left at all" wait_until 5 no_daemons_at_all
    tap_check "$1: no state left" state_gone_for "$2"
    tap_check "$1: no namespace reference mounted under the state dir" no_mounts_under_state
    tap_check "$1: table inet dnsjail removed" no_nft_table_in "$3"
}

# The checks every runtime shares (suite "basic", policy "allowed.test" or wider).
basic_checks() { # WHAT
    local w=$1
    expect "$w: curl http://allowed.test/ reaches the site through the proxy" curl_http_allowed \
        "r['rc'] == 0 and r['code'] == 200 and r['body'].startswith('host=allowed.test sni=None path=/curl-http peer=$HOSTNS_IP')" || {
        tap_diag_file "$W_CANARY_DNS_LOG" 10
        tap_diag "$(grep -F "\"$CID\"" "$W_LOG" | grep -v dns_query | head -5)"
    }
    expect "$w: curl https://allowed.test/ (certificate verified) reaches the site" curl_https_allowed \
        "r['rc'] == 0 and r['code'] == 200 and r['body'].startswith('host=allowed.test sni=allowed.test path=/curl-https peer=$HOSTNS_IP')"
    expect "$w: busybox wget http://allowed.test/ works" wget_http_allowed \
        "r['rc'] == 0 and r['body'].startswith('host=allowed.test sni=None path=/wget-http peer=$HOSTNS_IP')"
    expect "$w: busybox wget https://allowed.test/ works" wget_https_allowed \
        "r['rc'] == 0 and r['body'].startswith('host=allowed.test sni=allowed.test path=/wget-https peer=$HOSTNS_IP')"
    expect "$w: curl http://$DENIED/ gets 403 naming the host and the annotation, within 1 s" curl_http_denied \
        "r['code'] == 403 and '$DENIED' in r['body'] and 'io.dnsjail.allow' in r['body'] and r['ms'] < 1000"
    expect "$w: curl https://$DENIED/ gets the TLS access_denied alert, within 1 s" curl_https_denied \
        "r['rc'] == 35 and 'alert access denied' in r['err'] and r['ms'] < 1000"
    expect "$w: busybox wget http://$DENIED/ fails with 403" wget_http_denied \
        "r['rc'] != 0 and '403' in r['err'] and r['body'] == ''"
    expect "$w: busybox wget https://$DENIED/ fails" wget_https_denied \
        "r['rc'] != 0 and r['body'] == ''"
    expect "$w: a TLS client gets alert access_denied for $DENIED" tls_denied \
        "not r['ok'] and r.get('ssl_reason') == 'TLSV1_ALERT_ACCESS_DENIED'"
    tap_check "$w: the proxy logged the allowed HTTP request (container, host, decision, bytes)" \
        plog "r['event'] == 'http_request' and r['host'] == 'allowed.test' and r['decision'] == 'allow' and r['path'] == '/curl-http' and r['bytes_down'] > 0"
    tap_check "$w: the proxy logged the allowed TLS connection" \
        plog "r['event'] == 'tls_connection' and r['host'] == 'allowed.test' and r['decision'] == 'allow' and r['bytes_down'] > 0"
    tap_check "$w: the proxy logged the denied HTTP request with its reason" \
        plog "r['event'] == 'http_request' and r['host'] == '$DENIED' and r['decision'] == 'deny' and r.get('status') == 403 and r['reason'] == 'not in the allow list'"
    tap_check "$w: the proxy logged the denied TLS connection" \
        plog "r['event'] == 'tls_connection' and r['host'] == '$DENIED' and r['decision'] == 'deny' and r['bytes_up'] == 0"
    tap_check "$w: the world's resolver was never asked for $DENIED" \
        eval 'canary_none_dns "$DENIED"' || tap_diag "$(grep -F "$DENIED" "$W_CANARY_DNS_LOG")"
    tap_check "$w: the canary listeners saw nothing of $DENIED" \
        eval 'canary_none_net "$TAG"' || tap_diag "$(grep -F "$TAG" "$W_CANARY_NET_LOG")"
    tap_check "$w: the site never saw $DENIED" \
        uplog_none "'$DENIED' in str(r.get('host')) + str(r.get('sni')) or 'secret-$TAG' in str(r.get('path'))"
    tap_check "$w: the world's resolver was asked for allowed.test by the proxy, from the host namespace" \
        dns_asked allowed.test "$HOSTNS_IP"
}

# ---- controls: the world works without any jail -------------------------------------------
tap_check "control: the world's resolver answers allowed.test with the site's address" \
    eval '[ "$(nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @192.0.2.1 allowed.test)" = "$UPSTREAM_IP" ]'
tap_check "control: ... and private.test with 10.0.0.1" \
    eval '[ "$(nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @192.0.2.1 private.test)" = 10.0.0.1 ]'
tap_check "control: ... and any other name with the canary's 203.0.113.7" \
    eval '[ "$(nsenter --net="$W_HOSTNS_PATH" dig +short +time=2 +tries=1 @192.0.2.1 control-$TAG.test)" = 203.0.113.7 ]'
tap_check "control: the site answers HTTP from the host namespace" \
    eval 'nsenter --net="$W_HOSTNS_PATH" curl -sS --max-time 5 --resolve "allowed.test:80:$UPSTREAM_IP" http://allowed.test/control | grep -q "^host=allowed.test sni=None path=/control peer=$HOSTNS_IP"'
tap_check "control: the site answers HTTPS with the test certificate" \
    eval 'nsenter --net="$W_HOSTNS_PATH" curl -sS --max-time 5 --cacert "$PT/ca.pem" --resolve "allowed.test:443:$UPSTREAM_IP" https://allowed.test/control | grep -q "^host=allowed.test sni=allowed.test path=/control"'
tap_check "control: the canary does not hold the site's address" eval 'canary_none_net "/control"'

# ---- runc: everything ---------------------------------------------------------------------
world_ctns pxrunc || tap_bail "cannot make a namespace"
NS=$W_NS
CADDR=$(ctr_addr "$NS")
ID=$W_ID-proxy-runc
start=$SECONDS
pe2e_run runc "$ID" "$NS" "allowed.test *.example.test big.test private.test down.test nx.test" full
tap_diag "runc full suite: $((SECONDS - start)) s"
W=runc
ran_ok "$W"
basic_checks "$W"

# wildcard rules, look-alikes and the bare parent
expect "$W: http://www.example.test/ allowed by *.example.test" http_www_example \
    "r['code'] == 200 and r['body'].startswith('host=www.example.test sni=None path=/w ')"
expect "$W: https://www.example.test/ allowed by *.example.test" https_www_example \
    "r['code'] == 200 and r['body'].startswith('host=www.example.test sni=www.example.test path=/w ')"
expect "$W: http://a.b.example.test/ allowed (any depth)" http_deep_example \
    "r['code'] == 200 and 'path=/deep ' in r['body']"
expect "$W: https://a.b.example.test/ allowed (any depth)" https_deep_example \
    "r['code'] == 200 and 'sni=a.b.example.test path=/deep ' in r['body']"
expect "$W: http://evilexample.test/ denied against *.example.test (403)" http_evilexample \
    "r['code'] == 403 and 'evilexample.test' in r['body']"
expect "$W: https://evilexample.test/ denied against *.example.test (alert)" https_evilexample \
    "r['rc'] == 35 and 'alert access denied' in r['err']"
expect "$W: http://example.test/ denied: *.example.test does not cover example.test" http_bare_example \
    "r['code'] == 403"
tap_check "$W: the site never saw evilexample.test or example.test" \
    uplog_none "str(r.get('host')).split(':')[0] in ('evilexample.test', 'example.test') or r.get('sni') in ('evilexample.test', 'example.test')"
tap_check "$W: the world's resolver was never asked for evilexample.test or example.test" \
    eval '! dns_asked evilexample.test && ! dns_asked example.test'

# case and the trailing dot
expect "$W: Host: AlLoWeD.TeSt allowed" http_mixed_case \
    "r['answers'][0][0] == 200 and 'path=/mixed ' in r['answers'][0][1]"
expect "$W: Host: allowed.test. (trailing dot) allowed" http_trailing_dot \
    "r['answers'][0][0] == 200 and 'path=/dot ' in r['answers'][0][1]"
expect "$W: Host: ALLOWED.test. allowed" http_mixed_case_dot \
    "r['answers'][0][0] == 200 and 'path=/mixeddot ' in r['answers'][0][1]"
expect "$W: TLS with server name AlLoWeD.TeSt allowed" tls_mixed_case "r['ok'] and r['status'] == 200"
expect "$W: TLS with server name allowed.test. allowed" tls_trailing_dot "r['ok'] and r['status'] == 200"
expect "$W: curl https://AlLoWeD.TeSt./ allowed" curl_https_mixed_case_dot \
    "r['rc'] == 0 and r['code'] == 200 and 'path=/curl-mixed ' in r['body']"

# keep-alive and pipelining: the decision is per request
for mode in keepalive pipelined; do
    expect "$W, $mode: allowed.test, www.example.test, then $DENIED on one connection: 200, 200, 403, closed" \
        $mode "[a[0] for a in r['answers']] == [200, 200, 403] and r['closed'] and 'path=/ka1 ' in r['answers'][0][1] and r['answers'][1][1].startswith('host=www.example.test ') and '$DENIED' in r['answers'][2][1]"
done
tap_check "$W: the site got /ka1 and /ka2 (twice each) and neither the denied request nor the one after it" \
    eval 'uplog "r.get(\"path\") == \"/ka2\" and r.get(\"host\") == \"www.example.test\"" && uplog_none "str(r.get(\"path\")).startswith((\"/ka3\", \"/ka4\"))"'
tap_check "$W: the proxy logged the keep-alive requests one by one (allow /ka1, /ka2, deny the third)" \
    eval 'plog "r[\"path\"] == \"/ka1\" and r[\"decision\"] == \"allow\"" && plog "r[\"path\"] == \"/ka2\" and r[\"host\"] == \"www.example.test\" and r[\"decision\"] == \"allow\"" && plog "r[\"path\"].startswith(\"/ka3\") and r[\"decision\"] == \"deny\""'

# framing of responses on a kept-alive connection
for mode in framing framing_pipelined; do
    expect "$W, $mode: HEAD, 204, 304 with Content-Length, GET, then a close-delimited body: all answered in order" \
        $mode "[a[0] for a in r['answers']] == [200, 204, 304, 200, 200] and r['answers'][1][1] == '' and r['answers'][3][1].startswith('host=allowed.test sni=None path=/after ') and r['answers'][4][1] == 'delimited by close, path=/close-$TAG\\n'"
done

# absolute-form and Host
expect "$W: absolute-form and Host agreeing: 200" absolute_agree \
    "[a[0] for a in r['answers']] == [200] and r['answers'][0][1].startswith('host=allowed.test sni=None path=http://allowed.test/abs ')"
expect "$W: absolute-form www.example.test with Host allowed.test: 400" absolute_other_allowed \
    "[a[0] for a in r['answers']] == [400] and r['closed']"
expect "$W: absolute-form $DENIED with Host allowed.test: 400" absolute_denied_host_allowed \
    "[a[0] for a in r['answers']] == [400] and r['closed']"
expect "$W: absolute-form allowed.test with Host $DENIED: 400" absolute_allowed_host_denied \
    "[a[0] for a in r['answers']] == [400] and r['closed']"
expect "$W: a request without Host: 400" missing_host "[a[0] for a in r['answers']] == [400]"
tap_check "$W: the site got none of the disagreeing requests" \
    uplog_none "r.get('path') == '/abs' and r.get('host') != 'allowed.test' or 'abs-secret' in str(r.get('path')) or r.get('path') == '/nohost'"

# the ClientHello in pieces
expect "$W: TLS with the ClientHello in one segment works" tls_whole \
    "r['ok'] and r['status'] == 200 and r['body'].startswith('host=allowed.test sni=allowed.test path=/tls ')"
expect "$W: ClientHello split across TCP segments (5 bytes each) works" tls_segments \
    "r['ok'] and r['status'] == 200 and 'sni=allowed.test path=/tls ' in r['body'] and r['segments'] > 20"
expect "$W: ClientHello split across TLS records (40 bytes each) works" tls_records \
    "r['ok'] and r['status'] == 200 and 'sni=allowed.test path=/tls ' in r['body'] and r['records'] > 2"
expect "$W: ClientHello split across TCP segments and TLS records works" tls_segments_records \
    "r['ok'] and r['status'] == 200 and 'sni=allowed.test path=/tls ' in r['body']"
expect "$W: a denied name split across segments and records still gets the alert" tls_denied_records \
    "not r['ok'] and r.get('ssl_reason') == 'TLSV1_ALERT_ACCESS_DENIED'"
expect "$W: a ClientHello without SNI gets alert access_denied" tls_no_sni \
    "not r['ok'] and r.get('ssl_reason') == 'TLSV1_ALERT_ACCESS_DENIED'"
tap_check "$W: the proxy logged the missing SNI" \
    plog "r['event'] == 'tls_connection' and r['decision'] == 'deny' and 'no server name' in r['reason']"

# IP literals without an address rule
expect "$W: curl https://$UPSTREAM_IP/ (no address rule) is refused with the alert" curl_https_ip_literal \
    "r['rc'] == 35 and 'alert access denied' in r['err']"
expect "$W: TLS to $UPSTREAM_IP without an address rule: alert" tls_ip_literal \
    "not r['ok'] and r.get('ssl_reason') == 'TLSV1_ALERT_ACCESS_DENIED'"
expect "$W: curl http://$UPSTREAM_IP/ (no address rule): 403 that says it is an address" curl_http_ip_literal \
    "r['code'] == 403 and '$UPSTREAM_IP' in r['body'] and 'io.dnsjail.allow' in r['body']"
tap_check "$W: the site saw nothing for /ip" uplog_none "r.get('path') == '/ip'"

# IPv6, and the destination address the container picked
expect "$W: HTTP to [2001:db8::99] with Host allowed.test reaches the site (IPv6 listener)" http_v6_name \
    "r['code'] == 200 and r['body'].startswith('host=allowed.test sni=None path=/v6 peer=$HOSTNS_IP')"
expect "$W: HTTPS for allowed.test over IPv6 reaches the site" https_v6_name \
    "r['code'] == 200 and r['body'].startswith('host=allowed.test sni=allowed.test path=/v6tls peer=$HOSTNS_IP')"
expect "$W: curl http://[2001:db8::99]/ (IPv6 literal, no rule): 403" http_v6_literal \
    "r['code'] == 403 and '2001:db8::99' in r['body']"
expect "$W: HTTP to allowed.test at the canary's address still goes where allowed.test resolves" \
    http_other_dest "r['code'] == 200 and 'path=/otherdest-$TAG peer=$HOSTNS_IP' in r['body']"
expect "$W: HTTPS to allowed.test at the canary's address still goes where allowed.test resolves" \
    https_other_dest "r['code'] == 200 and 'sni=allowed.test path=/otherdest-$TAG peer=$HOSTNS_IP' in r['body']"
tap_check "$W: the canary saw nothing of those" eval 'canary_none_net "otherdest-$TAG"'

# allowed names that lead nowhere
expect "$W: an allowed name whose address refuses: 502 at once, naming the host" http_down \
    "r['code'] == 502 and 'could not connect to down.test' in r['body'] and r['ms'] < 2000"
expect "$W: an allowed name that does not resolve: 502 at once, naming the host" http_nx \
    "r['code'] == 502 and 'could not resolve nx.test' in r['body'] and r['ms'] < 2000"

# a name that resolves to a private address
expect "$W: http://private.test/ (resolves to 10.0.0.1) is refused with 403 naming the address" http_private \
    "r['code'] == 403 and '10.0.0.1' in r['body'] and 'private.test' in r['body']"
expect "$W: https://private.test/ is refused (alert)" https_private \
    "r['rc'] == 35 and 'alert access denied' in r['err']"
tap_check "$W: the proxy logged both private.test refusals as internal, nothing sent" \
    eval 'plog "r[\"event\"] == \"http_request\" and r[\"host\"] == \"private.test\" and r[\"decision\"] == \"deny\" and \"internal address 10.0.0.1\" in r[\"reason\"] and r[\"bytes_up\"] == 0" && plog "r[\"event\"] == \"tls_connection\" and r[\"host\"] == \"private.test\" and r[\"decision\"] == \"deny\" and \"internal address 10.0.0.1\" in r[\"reason\"] and r[\"bytes_up\"] == 0"'
tap_check "$W: the host namespace sent no packet to 10.0.0.1" eval '[ "$(private_packets)" = 0 ]' ||
    tap_diag "packets to 10.0.0.1: $(private_packets)"
tap_check "$W: the canary (where 10.0.0.1 would end up in this world) saw nothing of it" \
    eval 'canary_none_net "/private"'
tap_check "$W: the world's resolver was asked for private.test (the refusal is on the answer)" \
    dns_asked private.test "$HOSTNS_IP"

# bulk
for proto in http http_chunked https; do
    sum=$(python3 "$W_E2E_DIR/proxy-upstream.py" digest "dl-$proto-$TAG" "$BIG")
    expect "$W: 100 MB download over ${proto/_/, } intact (sha256)" "download_$proto" \
        "r['rc'] == 0 and r['size'] == $BIG and r['sha256'] == '$sum'"
    sum=$(python3 "$W_E2E_DIR/proxy-upstream.py" digest "up-$proto-$TAG" "$BIG")
    expect "$W: 100 MB upload over ${proto/_/, } intact (the site's sha256)" "upload_$proto" \
        "r['rc'] == 0 and r['sent_sha256'] == '$sum' and r['reply'] == 'sha256=$sum size=$BIG'"
done
expect "$W: the HTTP upload sent Expect: 100-continue and got the site's interim 100 through the proxy" \
    upload_http "r['expect_sent'] and r['got_100']"
expect "$W: the chunked HTTP upload was chunked and got the interim 100 too" \
    upload_http_chunked "r['chunked_sent'] and r['expect_sent'] and r['got_100']"
expect "$W: a 100 MB POST to $DENIED without Expect gets a clean 403 at once" http_denied_upload \
    "r['rc'] == 0 and r['code'] == 403 and '$DENIED' in r['body'] and r['ms'] < 2000"
expect "$W: pipelined POST with a body to allowed.test, then GET $DENIED: 200 (body intact), 403, closed" \
    pipelined_body_then_denied "[a[0] for a in r['answers']] == [200, 403] and r['closed'] and r['answers'][0][1] == 'sha256=' + __import__('hashlib').sha256(b'b' * 100000).hexdigest() + ' size=100000\\n'"
tap_check "$W: the proxy logged the download's bytes" \
    plog "r['event'] == 'http_request' and r['host'] == 'big.test' and r['bytes_down'] >= $BIG"
tap_check "$W: the proxy logged the upload's bytes" \
    plog "r['event'] == 'http_request' and r['host'] == 'big.test' and r['bytes_up'] >= $BIG"

# many at once
for proto in http https; do
    expect "$W: 1,000 concurrent $proto connections, all answered while all were open" many_$proto \
        "r['count'] == 1000 and r['answered_while_open'] == 1000 and r['right'] == 1000"
done
tap_diag "$(grep -E '"label": "(download|upload|many)_' "$RUN_OUT" |
    sed -E 's/(, )?"(sha256|sent_sha256|reply)": "[^"]*"//g')"

# where it all went
tap_check "$W: every request the site saw from this run came from the proxy (the host namespace)" \
    uplog_none "r.get('event') in ('request', 'handshake') and r.get('peer') not in ('$HOSTNS_IP',)"
tap_check "$W: the container never asked the world's resolver anything (its DNS is the stub's)" \
    eval '! grep -q "from $CADDR\$" "$W_CANARY_DNS_LOG"'
pe2e_gone "$W" "$CID" "$NS"

# ---- runc: an address rule goes around the proxy ------------------------------------------
world_ctns pxcidr || tap_bail "cannot make a namespace"
NS=$W_NS
CADDR=$(ctr_addr "$NS")
ID=$W_ID-proxy-cidr
pe2e_run runc "$ID" "$NS" "203.0.113.0/24:443" cidr
W="runc, 203.0.113.0/24:443"
ran_ok "$W"
expect "$W: curl https://$UPSTREAM_IP/ reaches the site directly, from the container's address" \
    cidr_https_direct "r['rc'] == 0 and r['code'] == 200 and r['body'].startswith('host=$UPSTREAM_IP sni=None path=/cidr-$TAG peer=$CADDR')"
tap_check "$W: the proxy has no line for that connection" \
    plog_none "r['event'] == 'tls_connection' or r.get('path') == '/cidr-$TAG'"
expect "$W: port 80 is not in the rule: http://$UPSTREAM_IP/ ends at the proxy with 403" \
    cidr_http_port80 "r['code'] == 403 and '$UPSTREAM_IP' in r['body']"
tap_check "$W: ... and the proxy logged that refusal" \
    plog "r['event'] == 'http_request' and r['host'] == '$UPSTREAM_IP' and r['decision'] == 'deny'"
tap_check "$W: the site did not get the port-80 request" uplog_none "r.get('path') == '/cidr80-$TAG'"
pe2e_gone "$W" "$CID" "$NS"

# ---- crun and podman: allowed and denied, HTTP and HTTPS ----------------------------------
for rt in crun podman; do
    world_ctns "px$rt" || tap_bail "cannot make a namespace"
    NS=$W_NS
    ID=$W_ID-proxy-$rt
    start=$SECONDS
    pe2e_run "$rt" "$ID" "$NS" "allowed.test" basic
    tap_diag "$rt basic suite: $((SECONDS - start)) s"
    ran_ok "$rt"
    basic_checks "$rt"
    pe2e_gone "$rt" "$CID" "$NS"
done

tap_check "no dnsjail-dnsstub of this run left at all" eval '[ -z "$(world_stubs)" ]'
tap_check "no dnsjail-proxy of this run left at all" no_daemons_at_all
tap_done
