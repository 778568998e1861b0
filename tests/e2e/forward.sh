#!/bin/bash
# forward.sh: forward zones end to end. A real upstream (dnsmasq, authoritative for
# cluster.local, on 198.51.100.53 in a server namespace behind the test world's internet)
# answers the names inside the zone; dnsjail-dnsstub runs in the world's host namespace under
# its real seccomp filter and must: answer forward-zone names exactly as the upstream does
# (compared with dig straight at it), keep the sinkhole for every other name with nothing
# reaching the upstream or the canary, send secret.attacker.test.cluster.local to the zone's
# upstream only, cache positive and negative answers until their TTL runs out, refuse beyond
# the rate limit, answer SERVFAIL when the upstream is unreachable, send TC with the question
# only to a UDP client whose size is too small and the whole answer over TCP, ask upstream in
# lower case whatever case the client used (and give the client its own case back). Then the
# hook under runc: a container resolves a forward-zone name for real; a zone without an
# upstream goes to the admin's upstream-resolvers or to a resolv.conf the runtime mounts from
# the host, never to the image's own file (a planted one is not used; with nothing else the
# container is refused, in enforce and audit mode); a name:port rule inside a zone wins: a
# virtual address, relayed by the proxy to the zone's answer (an echo in the server
# namespace; control: the same echo reached without the jail); an io.dnsjail.forward
# annotation without annotation-forward-within refuses the container.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require dnsmasq dig python3 runc
world_require_build
world_up
world_servers_ns fwd 198.51.100.0/25 || tap_bail "cannot build the server namespace"
SRV_NS=$W_SRV_NS
UPSTREAM=198.51.100.53
ECHO_IP=198.51.100.60 # db.cluster.local in the zone; the world's resolver says otherwise
STUB=$top_builddir/dnsstub/dnsjail-dnsstub
TAG=$(world_random)
UP_LOG=$W_TMP/upstream.log
STUB_LOG=$W_TMP/stub.log
STUB2_LOG=$W_TMP/stub2.log
PORT=5353
PORT2=5354

# ---- the upstream --------------------------------------------------------------------------
big=$(printf 'x%.0s' $(seq 1 200))
ip -n "${SRV_NS##*/}" addr add "$UPSTREAM/32" dev lo || tap_bail "cannot add $UPSTREAM"
: >"$UP_LOG"
nsenter --net="$SRV_NS" dnsmasq -k --conf-file=/dev/null --user=root --no-resolv --no-hosts \
    --pid-file="$W_TMP/upstream.pid" --listen-address="$UPSTREAM" --bind-interfaces --port=53 \
    --auth-server="ns.cluster.local,$UPSTREAM" --auth-zone=cluster.local --auth-ttl=3 \
    --auth-soa=1,hostmaster.cluster.local,1200,120,1200 \
    --host-record=www.cluster.local,10.96.0.10,fd00::10 \
    --host-record=ttl.cluster.local,10.96.0.11 \
    --host-record=case.cluster.local,10.96.0.12 \
    --host-record=db.cluster.local,$ECHO_IP \
    --txt-record="big.cluster.local,$big,$big,$big" \
    --log-queries --log-facility="$UP_LOG" >"$W_TMP/upstream.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 nsenter --net="$W_HOSTNS_PATH" dig +time=1 +tries=1 +short "@$UPSTREAM" \
    www.cluster.local >/dev/null || {
    tap_diag_file "$W_TMP/upstream.out"
    tap_bail "the upstream dnsmasq did not answer"
}

# ---- the stubs (in the host namespace, as the hook runs them) -------------------------------
start_stub() { # PORT LOG OPTIONS...
    local port=$1 log=$2
    shift 2
    nsenter --net="$W_HOSTNS_PATH" "$STUB" --listen "127.0.0.1:$port" --user nobody \
        --log-file "$log" --log-rate 0 "$@" >"$log.out" 2>&1 &
    W_PIDS+=($!)
    wait_until 10 nsenter --net="$W_HOSTNS_PATH" dig +time=1 +tries=1 -p "$port" @127.0.0.1 \
        +short ready.invalid >/dev/null
}
mkdir -p "$W_TMP/metrics" && chown nobody "$W_TMP/metrics"
start_stub $PORT "$STUB_LOG" --metrics-dir "$W_TMP/metrics" \
    --forward "cluster.local=$UPSTREAM dead.test=198.51.100.54:5999" \
    --forward-ttl-floor 0 --forward-rate 1000 --forward-burst 1000 ||
    { tap_diag_file "$STUB_LOG.out"; tap_bail "the stub did not start"; }
STUB_PID=${W_PIDS[-1]}
start_stub $PORT2 "$STUB2_LOG" --forward "cluster.local=$UPSTREAM" --forward-rate 1 \
    --forward-burst 2 || { tap_diag_file "$STUB2_LOG.out"; tap_bail "the second stub did not start"; }
# An upstream that never answers: the server namespace drops what goes to its port 5998.
nsenter --net="$SRV_NS" nft -f - <<'EOF' || tap_bail "cannot add the drop rule"
table inet fwdtest {
    chain input { type filter hook input priority 0; udp dport 5998 drop; tcp dport 5998 drop; }
}
EOF
STUB3_LOG=$W_TMP/stub3.log
PORT3=5355
start_stub $PORT3 "$STUB3_LOG" --forward "slow.test=$UPSTREAM:5998" --forward-timeout-ms 300 ||
    { tap_diag_file "$STUB3_LOG.out"; tap_bail "the third stub did not start"; }

sdig() { nsenter --net="$W_HOSTNS_PATH" dig +time=3 +tries=1 -p "$PORT" @127.0.0.1 "$@"; }
udig() { nsenter --net="$W_HOSTNS_PATH" dig +time=3 +tries=1 "@$UPSTREAM" "$@"; }
upstream_count() { grep -c -i -F -- "] $1 from" "$UP_LOG"; }
# The stub log's outcome field for the Nth (1-based) line about QNAME.
outcome_of() { # LOG QNAME N
    /usr/bin/python3 "$W_E2E_DIR/lib/logquery.py" outcome "$@"
}
# Did the upstream see NAME (lower case) in any other letter case?
upstream_saw_other_case() { grep -iF "] $1 from" "$UP_LOG" | grep -qvF "] $1 from"; }
answers() { grep -v '^;' | awk 'NF >= 5 { $2 = "TTL"; print }' | sort; }

tap_plan 51

# ---- answers as the upstream gives them ----------------------------------------------------
for qtype in A AAAA; do
    want=$(udig +noall +answer www.cluster.local "$qtype" | answers)
    got=$(sdig +noall +answer www.cluster.local "$qtype" | answers)
    tap_check "www.cluster.local $qtype: the stub's answer is the upstream's ($want)" \
        test -n "$want" -a "$got" = "$want" || tap_diag "got: $got"
done
out=$(sdig +noall +answer WwW.CLUSTER.local A)
tap_check "the answer carries the client's question case" grep -q '^WwW\.CLUSTER\.local\.' <<<"$out" ||
    tap_diag "$out"
# Letter case is no channel: the upstream sees the name in lower case only.
udig +short MiXeD-Control.CLUSTER.local A >/dev/null
tap_check "control: the upstream's log keeps the case a client used (asked directly)" \
    grep -qF "] MiXeD-Control.CLUSTER.local from" "$UP_LOG" || tap_diag_file "$UP_LOG" 5
out=$(sdig +noall +answer +question CaSe.CLUSTER.local A)
tap_check "a mixed-case question gets the answer with its own case (question and answer)" \
    eval 'grep -q "^;CaSe\.CLUSTER\.local\..*IN" <<<"$out" && grep -q "^CaSe\.CLUSTER\.local\..*10\.96\.0\.12" <<<"$out"' ||
    tap_diag "$out"
tap_check "... and the upstream was asked case.cluster.local, in lower case only" \
    eval 'grep -qF "] case.cluster.local from" "$UP_LOG" && ! upstream_saw_other_case case.cluster.local' ||
    tap_diag_file "$UP_LOG" 10
want=$(udig +tcp +noall +answer big.cluster.local TXT | answers)
got=$(sdig +tcp +noall +answer big.cluster.local TXT | answers)
tap_check "a TXT answer of over 600 bytes comes whole over TCP" \
    test -n "$want" -a "$got" = "$want"
out=$(sdig +noedns +ignore big.cluster.local TXT)
tap_check "over UDP without EDNS (512 bytes) it is TC=1 with the question only" \
    eval 'grep -q "flags:.* tc" <<<"$out" && grep -q "ANSWER: 0" <<<"$out"' || tap_diag "$out"
out=$(sdig +bufsize=1232 big.cluster.local TXT)
tap_check "over UDP with EDNS 1232 it fits, with an OPT record" \
    eval 'grep -q "ANSWER: 1," <<<"$out" && grep -q "EDNS: version: 0" <<<"$out"' || tap_diag "$out"
out=$(sdig +noedns www.cluster.local A)
tap_check "a client without EDNS gets no OPT record back" \
    eval '! grep -q "OPT PSEUDOSECTION" <<<"$out" && grep -q "ANSWER: 1," <<<"$out"' ||
    tap_diag "$out"

# ---- only names inside a zone leave -------------------------------------------------------
out=$(sdig +short "secret-$TAG.example.test" A)
tap_check "a name outside every zone gets the sinkhole" test "$out" = 6.6.6.6
out=$(sdig +short "secret-$TAG.cluster.local.example.test" A)
tap_check "a name that only contains the zone gets the sinkhole" test "$out" = 6.6.6.6
out=$(sdig +short "secret-$TAG.xcluster.local" A)
tap_check "a name that ends like the zone off a label boundary gets the sinkhole" test "$out" = 6.6.6.6
tap_check "the upstream saw none of them" eval '! grep -q -F "$TAG" "$UP_LOG"' ||
    tap_diag_file "$UP_LOG" 5
tap_check "the canary saw none of them" eval 'canary_none "$TAG"'
out=$(sdig "secret-$TAG.attacker.test.cluster.local" A)
tap_check "secret.attacker.test.cluster.local: the upstream's NXDOMAIN with its SOA" \
    eval 'grep -q "status: NXDOMAIN" <<<"$out" && grep -q "SOA" <<<"$out"' || tap_diag "$out"
tap_check "... asked of the zone's upstream" \
    test "$(upstream_count "secret-$TAG.attacker.test.cluster.local")" -ge 1
tap_check "... and of nobody else (the canary saw nothing)" eval 'canary_none "$TAG"'

# ---- the cache -----------------------------------------------------------------------------
: >"$UP_LOG"
first=$(sdig +noall +answer ttl.cluster.local A)
second=$(sdig +noall +answer ttl.cluster.local A)
third=$(sdig +noall +answer ttl.cluster.local A)
tap_check "three queries within the TTL reach the upstream once" \
    test "$(upstream_count ttl.cluster.local)" = 1 || tap_diag_file "$UP_LOG"
tap_check "... the second and third come from the cache (log outcome)" \
    eval '[ "$(outcome_of "$STUB_LOG" ttl.cluster.local 2)" = cached ] &&
          [ "$(outcome_of "$STUB_LOG" ttl.cluster.local 3)" = cached ]'
ttl1=$(awk '{print $2}' <<<"$first")
ttl3=$(awk '{print $2}' <<<"$third")
tap_check "... with the TTL counting down, never up (first $ttl1, third $ttl3)" \
    test -n "$ttl1" -a -n "$ttl3" -a "${ttl3:-9}" -le "${ttl1:-0}"
# The upstream's TTL is 3 s (--auth-ttl); once it has run out the stub must ask again.
sleep 4
sdig +short ttl.cluster.local A >/dev/null
tap_check "after the TTL the upstream is asked again" \
    test "$(upstream_count ttl.cluster.local)" = 2 || tap_diag_file "$UP_LOG"
sdig "nx-$TAG.cluster.local" A >/dev/null
out=$(sdig "nx-$TAG.cluster.local" A)
tap_check "a negative answer is cached too (asked once, NXDOMAIN twice)" \
    eval '[ "$(upstream_count "nx-$TAG.cluster.local")" = 1 ] && grep -q "status: NXDOMAIN" <<<"$out"' ||
    tap_diag "$out"

# ---- limits and failures ------------------------------------------------------------------
refused=0
for i in 1 2 3 4 5 6; do
    nsenter --net="$W_HOSTNS_PATH" dig +time=3 +tries=1 -p "$PORT2" @127.0.0.1 \
        "rl$i-$TAG.cluster.local" A | grep -q "status: REFUSED" && refused=$((refused + 1))
done
tap_check "six upstream queries at once against a rate of 1/s, burst 2: some REFUSED ($refused)" \
    test "$refused" -ge 3
tap_check "... and logged with outcome refused" \
    grep -q '"outcome":"refused".*"reason":"upstream rate limit' "$STUB2_LOG"
out=$(sdig "x-$TAG.dead.test" A)
tap_check "an unreachable upstream gives SERVFAIL" grep -q "status: SERVFAIL" <<<"$out" ||
    tap_diag "$out"
tap_check "... logged with outcome failed" \
    test "$(outcome_of "$STUB_LOG" "x-$TAG.dead.test" 1)" = failed
out=$(nsenter --net="$W_HOSTNS_PATH" dig +time=8 +tries=1 -p "$PORT3" @127.0.0.1 "t-$TAG.slow.test" A)
tap_check "an upstream that never answers gives SERVFAIL once its attempts time out" \
    grep -q "status: SERVFAIL" <<<"$out" || tap_diag "$out"
tap_check "... logged with outcome failed and the reason" \
    grep -q '"outcome":"failed".*"reason":"TIMEOUT"' "$STUB3_LOG" || tap_diag_file "$STUB3_LOG"
tap_check "the stub survived all of it under seccomp" kill -0 "$STUB_PID" ||
    tap_diag_file "$STUB_LOG.out"

# ---- the numbers: dnsstub.prom counts the outcomes and the forwarders' upstream side ---------
prom_value() { # SERIES-PREFIX: the sum of the values of the lines that start with it
    awk -v p="$1" 'index($0, p) == 1 { s += $NF } END { print s + 0 }' "$W_TMP/metrics/dnsstub.prom" 2>/dev/null
}
wait_until 7 eval '[ "$(prom_value "dnsjail_forward_upstream_latency_seconds_count")" -gt 0 ]'
tap_check "metrics: forwarded and cached outcomes counted in dnsstub.prom" \
    eval '[ "$(prom_value "dnsjail_dns_queries_total{" )" -gt 0 ] &&
          grep -q "outcome=\"forwarded\"} [1-9]" "$W_TMP/metrics/dnsstub.prom" &&
          grep -q "outcome=\"cached\"} [1-9]" "$W_TMP/metrics/dnsstub.prom"' ||
    tap_diag_file "$W_TMP/metrics/dnsstub.prom" 20
tap_check "metrics: the forwarders' raw queries and upstream latency histogram" \
    eval '[ "$(prom_value "dnsjail_forward_raw_queries_total")" -gt 0 ] &&
          [ "$(prom_value "dnsjail_forward_upstream_latency_seconds_count")" -gt 0 ] &&
          grep -q "dnsjail_forward_upstream_latency_seconds_bucket{.*le=\"+Inf\"}" "$W_TMP/metrics/dnsstub.prom"'

# ---- under runc with the hook --------------------------------------------------------------
# world.sh's configuration sets upstream-resolvers = 192.0.2.1 (the canary resolver).
world_dnsjail_conf "forward-zones = cluster.local=$UPSTREAM canary.test" ||
    tap_bail "cannot write the dnsjail configuration"
world_ctns fwdrunc || tap_bail "cannot make a namespace"
run_container runc "$W_ID-fwd" "$W_NS" yes "" -- /usr/bin/python3 /probe.py \
    "dns|fwd|www.cluster.local|A|-|udp" "dns|fwd_default|d-$TAG.canary.test|A|-|udp" \
    "dns|outside|o-$TAG.example.test|A|-|udp"
tap_check "runc: a container resolves a forward-zone name for real (10.96.0.10)" \
    probe_is "$RUN_OUT" fwd answers "A:10.96.0.10" || _show_run
tap_check "runc: a zone without upstream goes to the admin's upstream-resolvers (the canary)" \
    eval 'probe_is "$RUN_OUT" fwd_default answers "A:203.0.113.7" && canary_saw_dns "d-$TAG.canary.test"' ||
    _show_run
tap_check "runc: a name outside the zones gets the sinkhole and the canary never sees it" \
    eval 'probe_is "$RUN_OUT" outside answers "A:6.6.6.6" && canary_none "o-$TAG"' || _show_run

world_ctns fwdann || tap_bail "cannot make a namespace"
run_container runc "$W_ID-fwdann" "$W_NS" yes "io.dnsjail.forward=cluster.local" -- /bin/true
tap_check "runc: io.dnsjail.forward without annotation-forward-within refuses the container" \
    eval '[ "$RUN_RC" -ne 0 ] && grep -q "has not allowed" "$W_LOG"' || _show_run

# The image's own /etc/resolv.conf never decides where a zone goes: whoever built the image
# wrote it. Only the admin's lists, or a file the runtime mounts from the host, count.
run_fwd_bundle() { # ID ETC-ACTION [bundle.py options] -- ARGS: ETC-ACTION runs in rootfs/etc
    local id=$1 action=$2 b
    shift 2
    world_ctns "$id" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$W_ID-$id" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" "$@") ||
        tap_bail "cannot make a bundle"
    (cd "$b/rootfs/etc" && eval "$action")
    run_runc "$W_ID-$id" "$b"
}
refused_saying() { # RAN-MARKER PATTERN: the container did not run and the log says PATTERN
    [ "$RUN_RC" -ne 0 ] && ! grep -q "$1" "$RUN_OUT" && grep -q "$2" "$W_LOG"
}
run_fwd_bundle fwdplant "echo 'nameserver $UPSTREAM' >resolv.conf" \
    -- /usr/bin/python3 /probe.py "dns|planted|p-$TAG.canary.test|A|-|udp"
tap_check "runc: an image's resolv.conf naming another server is not used: upstream-resolvers is (the canary)" \
    eval 'probe_is "$RUN_OUT" planted answers "A:203.0.113.7" && canary_saw_dns "p-$TAG.canary.test"' ||
    _show_run
tap_check "runc: ... the server the image named never saw the name" \
    eval '! grep -qF "p-$TAG" "$UP_LOG"' || tap_diag_file "$UP_LOG" 5

# Without upstream-resolvers only a mounted host file is left.
world_dnsjail_conf "forward-zones = cluster.local=$UPSTREAM canary.test" ||
    tap_bail "cannot write the dnsjail configuration"
sed -i '/^upstream-resolvers/d' "$W_CONF"
run_fwd_bundle fwdimage : -- /bin/echo "ran-$TAG-image"
tap_check "runc: no upstream-resolvers, only the image's resolv.conf: refused, saying to name an upstream" \
    refused_saying "ran-$TAG-image" "canary.test.*no upstream.*name the zone.s upstream" ||
    { _show_run; tap_diag_file "$W_LOG" 3; }
echo "nameserver 192.0.2.1" >"$W_TMP/host-resolv.conf"
chmod 644 "$W_TMP/host-resolv.conf"
run_fwd_bundle fwdmount "echo 'nameserver $UPSTREAM' >resolv.conf" \
    --bind "$W_TMP/host-resolv.conf:/etc/resolv.conf" \
    -- /usr/bin/python3 /probe.py "dns|mounted|m-$TAG.canary.test|A|-|udp"
tap_check "runc: control: a resolv.conf mounted from the host is the zone's upstream (the canary)" \
    eval 'probe_is "$RUN_OUT" mounted answers "A:203.0.113.7" && canary_saw_dns "m-$TAG.canary.test" && ! grep -qF "m-$TAG" "$UP_LOG"' ||
    _show_run
echo "nameserver 127.0.0.53" >"$W_TMP/host-resolv-lo.conf"
chmod 644 "$W_TMP/host-resolv-lo.conf"
run_fwd_bundle fwdlo : --bind "$W_TMP/host-resolv-lo.conf:/etc/resolv.conf" -- /bin/echo "ran-$TAG-lo"
tap_check "runc: a mounted resolv.conf with only a loopback nameserver refuses, saying why" \
    refused_saying "ran-$TAG-lo" "only loopback nameservers" || _show_run
# A mount whose source is the image's own file is the image's file.
run_fwd_bundle fwdself : --bind "$W_TMP/bundles/$W_ID-fwdself/rootfs/etc/resolv.conf:/etc/resolv.conf" \
    -- /bin/echo "ran-$TAG-self"
tap_check "runc: a mount onto /etc/resolv.conf from inside the root filesystem is refused" \
    refused_saying "ran-$TAG-self" "inside the container.s root filesystem" ||
    { _show_run; tap_diag_file "$W_LOG" 3; }

# Audit mode resolves every name: through upstream-resolvers, else the mounted file, never the
# image's (here no zone lacks an upstream, so only audit mode's own default is at stake).
world_dnsjail_conf "forward-zones = cluster.local=$UPSTREAM" ||
    tap_bail "cannot write the dnsjail configuration"
sed -i '/^upstream-resolvers/d' "$W_CONF"
run_fwd_bundle fwdaudit : --annotation io.dnsjail.mode=audit -- /bin/echo "ran-$TAG-audit"
tap_check "runc: audit mode, no upstream-resolvers, only the image's resolv.conf: refused, saying to set upstream-resolvers" \
    refused_saying "ran-$TAG-audit" "audit mode.s upstream.*upstream-resolvers" ||
    { _show_run; tap_diag_file "$W_LOG" 3; }
run_fwd_bundle fwdauditmount : --annotation io.dnsjail.mode=audit \
    --bind "$W_TMP/host-resolv.conf:/etc/resolv.conf" \
    -- /usr/bin/python3 /probe.py "dns|audited|a-$TAG.example.test|A|-|udp"
tap_check "runc: control: audit mode with a mounted resolv.conf resolves through it (the canary)" \
    eval 'probe_is "$RUN_OUT" audited answers "A:203.0.113.7" && canary_saw_dns "a-$TAG.example.test"' ||
    _show_run

# ---- a name:port rule inside a forward zone: the rule wins ---------------------------------
# db.cluster.local is $ECHO_IP in the zone, 203.0.113.7 at the world's resolver (the proxy's
# upstream-resolvers): only the zone's answer leads to the echo.
world_dnsjail_conf "forward-zones = cluster.local=$UPSTREAM" ||
    tap_bail "cannot write the dnsjail configuration"
ip -n "${SRV_NS##*/}" addr add "$ECHO_IP/32" dev lo || tap_bail "cannot add $ECHO_IP"
ECHO_LOG=$W_TMP/echo.log
: >"$ECHO_LOG"
nsenter --net="$SRV_NS" python3 "$W_E2E_DIR/virtual-client.py" serve "$ECHO_LOG" "$ECHO_IP" \
    >"$W_TMP/echo.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/echo.out" || tap_bail "the echo server did not start"
echoed() { probe_is "$RUN_OUT" "$1" reply "b'echo-5432" && grep -qF "$2" "$ECHO_LOG"; }
world_ctns fwdvctl || tap_bail "cannot make a namespace"
run_container runc "$W_ID-fwdvctl" "$W_NS" yes "io.dnsjail.enable=false" -- /usr/bin/python3 \
    /probe.py "tcp|ctl|$ECHO_IP|5432|ctl-$TAG"
tap_check "runc: control: with io.dnsjail.enable=false the container reaches the echo at $ECHO_IP:5432" \
    echoed ctl "ctl-$TAG" || _show_run
world_ctns fwdvirt || tap_bail "cannot make a namespace"
run_container runc "$W_ID-fwdvirt" "$W_NS" yes \
    "io.dnsjail.allow=db.cluster.local:5432,nx-$TAG.cluster.local:5432" -- \
    /usr/bin/python3 /probe.py "dns|vdns|db.cluster.local|A|-|udp" \
    "tcp|vecho|db.cluster.local|5432|virt-$TAG" "tcp|vdirect|$ECHO_IP|5432|direct-$TAG" \
    "tcp|vnx|nx-$TAG.cluster.local|5432|nx-$TAG"
VADDR=$(probe_field "$RUN_OUT" vdns answers)
tap_check "runc: db.cluster.local:5432 allowed inside the zone: a virtual address ($VADDR)" \
    eval 'case "$VADDR" in A:198.1[89].*) true ;; *) false ;; esac' || _show_run
tap_check "runc: ... TCP to it reaches the echo on the zone's answer, through the proxy" \
    echoed vecho "virt-$TAG" || { _show_run; tap_diag_file "$W_LOG" 5; }
tap_check "runc: ... the proxy logged it allowed, relayed to $ECHO_IP:5432" \
    grep -q "\"event\":\"virtual_connection\".*\"host\":\"db.cluster.local\".*\"decision\":\"allow\".*\"upstream\":\"$ECHO_IP:5432\"" "$W_LOG" ||
    tap_diag_file "$W_LOG" 5
tap_check "runc: ... while the echo's address itself stays closed (no address rule)" \
    eval '! probe_is "$RUN_OUT" vdirect status connected && ! grep -qF "direct-$TAG" "$ECHO_LOG"' ||
    _show_run
# An allowed name the zone says does not exist: reset, and logged as what it was.
tap_check "runc: an allowed name that the zone does not know: the connection is reset" \
    eval 'probe_isnt "$RUN_OUT" vnx status connected' || _show_run
tap_check "runc: ... logged as decision error, could not resolve (never allow)" \
    grep -q "\"event\":\"virtual_connection\".*\"host\":\"nx-$TAG.cluster.local\".*\"decision\":\"error\",\"reason\":\"could not resolve nx-$TAG.cluster.local: no such name\"" "$W_LOG" ||
    tap_diag_file "$W_LOG" 5
tap_done
