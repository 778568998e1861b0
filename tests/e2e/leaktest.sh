#!/bin/bash
# leaktest.sh: dnsjail-leaktest end to end. The canary runs in the test world's internet
# namespace; every packet that reaches the internet from the bridge is redirected to it (DNS
# to its DNS port, every other TCP and UDP port to its catch-all ports), so it sees every
# token that gets out, on any address and any port. The statically linked probe runs in
# containers under runc, crun and podman, jailed with several policies: `report` must find no
# leak (the documented SNI limit apart, which must show up where it applies). A positive
# control runs the same probe without the hook: the canary must see (nearly) every channel,
# or the jailed runs would prove nothing. Then Debian's iodine client tries to bring up a DNS
# tunnel to iodined, without the jail (it must work) and jailed (it must not).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun podman nft
world_require_build
LT_BIN=$top_builddir/leaktest/dnsjail-leaktest
[ -x "$LT_BIN" ] || tap_skip_all "not built: $LT_BIN"
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

ZONE=canary.test
CANARY4=203.0.113.80
CANARY6=2001:db8:c::80
OTHER=198.51.100.53
ALLOWED=allowed.$ZONE
LT_STATE=$W_TMP/leaktest-canary.state

# Every rootfs the world makes also holds the probe: a static binary, nothing else needed.
eval "$(declare -f world_rootfs | sed '1s/world_rootfs/_world_rootfs_plain/')"
world_rootfs() {
    _world_rootfs_plain "$1" && install -m 755 "$LT_BIN" "$1/dnsjail-leaktest"
}

# podman gets hooks.d files for the build tree's hook and this run's config.
W_PODMAN_HOOKSDIR=$W_TMP/hooks.d
mkdir -p "$W_PODMAN_HOOKSDIR"
for stage in prestart poststop; do
    cat >"$W_PODMAN_HOOKSDIR/dnsjail-$stage.json" <<EOF
{"version": "1.0.0",
 "hook": {"path": "$W_HOOK", "args": ["dnsjail-hook", "--config", "$W_CONF", "$stage"],
          "timeout": 10},
 "when": {"annotations": {"^io\\\\.dnsjail\\\\.": ".*"}},
 "stages": ["$stage"]}
EOF
done

# ---- the canary -------------------------------------------------------------------------
INET=/run/netns/$W_INET
nsenter --net="$INET" "$LT_BIN" canary --zone "$ZONE" --dns-port 10053 --catch-tcp 10080 \
    --catch-udp 10123 --icmp --state "$LT_STATE" --user 65534 2>"$W_TMP/leaktest-canary.err" &
W_PIDS+=($!)
tap_check "canary is up" wait_until 10 grep -q '^ready' "$W_TMP/leaktest-canary.err" ||
    tap_bail "$(cat "$W_TMP/leaktest-canary.err")"
# Only what arrives from the bridge (containers, and the host namespace where the jail's
# proxy connects from): the world's own selftests on loopback keep their dnsmasq.
tap_check "every port of every address leads to the canary" \
    nsenter --net="$INET" nft -f - <<'EOF'
table inet leaktest {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 198.51.100.128/26 accept
        iifname "djbr" meta l4proto { tcp, udp } th dport 53 redirect to :10053
        iifname "djbr" meta l4proto tcp redirect to :10080
        iifname "djbr" meta l4proto udp redirect to :10123
    }
}
EOF

PROBE_ARGS=(/dnsjail-leaktest probe --canary-zone "$ZONE" --canary-addr "$CANARY4"
    --canary-addr6 "$CANARY6" --other-addr "$OTHER" --allowed-host "$ALLOWED" --timeout-ms 800)

# The report of the last run; leaves REPORT (file) and REPORT_RC.
# Before the report: the canary has recorded everything the probe sent. The probe has exited;
# what it sent is queued at the canary's sockets, which one poll loop serves a pass at a time.
# A marker datagram sent now is read in a pass no earlier than those queues; three markers one
# after the other leave room for a connection accepted in one pass and read in the next.
canary_settled() {
    local i m
    for i in 1 2 3; do
        m=settle-$(world_random)-$i
        nsenter --net="$INET" bash -c 'printf %s "$1" >/dev/udp/127.0.0.1/10123' _ "$m" &&
            wait_until 5 grep -qF -- "$m" "$LT_STATE" || return 1
    done
}
report() {
    REPORT=$W_TMP/out/$RUN_CID.report
    canary_settled || tap_bail "the canary did not record a marker"
    "$LT_BIN" report --state "$LT_STATE" --input "$RUN_OUT" >"$REPORT" 2>&1
    REPORT_RC=$?
}
verdict_of() { awk -v c="$1" '$1 == c { print $2 }' "$REPORT"; }
verdict_is() { [ "$(verdict_of "$1")" = "$2" ]; }
show_report() {
    tap_diag "probe exit $RUN_RC, report exit $REPORT_RC"
    tap_diag_file "$REPORT" 40
    tap_diag_file "$RUN_ERR" 10
}

# The channels that must be blocked (never "not-testable") in every jailed run.
MUST_BLOCK="dns-udp-a dns-udp-aaaa dns-udp-txt dns-udp-null dns-udp-cname dns-udp-mx dns-udp-any
 dns-udp-srv dns-tcp dns-edns0 dns-long-labels dns-base32-labels dns-binary-labels dns-canary-udp
 dns-canary-tcp dns-other-addr dns-canary-ipv6 dot-853 doh-post-80 doh-post-443 http-denied-host
 tls-denied-sni http-keepalive-switch tcp-22 tcp-high-port tcp-ipv6 udp-123 udp-high-port
 udp-ipv6 udp-443-quic icmp-echo icmp6-echo"

all_blocked() {
    local c bad=
    for c in $MUST_BLOCK; do verdict_is "$c" blocked || bad="$bad $c=$(verdict_of "$c")"; done
    [ -z "$bad" ] || { echo "not blocked:$bad"; return 1; }
}

# ---- positive control -------------------------------------------------------------------
tap_check "the probe is statically linked" eval 'file -L "$LT_BIN" | grep -q "static"'
world_ctns ltctl || tap_bail "cannot make a namespace"
run_container runc "$W_ID-lt-control" "$W_NS" no "" -- "${PROBE_ARGS[@]}"
report
tap_check "control: the probe ran" grep -q '^# dnsjail-leaktest probe run' "$RUN_OUT" || show_report
tap_check "control: report says something leaked (exit 1)" test "$REPORT_RC" -eq 1 || show_report
control_all_leaked() {
    local c bad=
    for c in $MUST_BLOCK limit-sni-host; do
        verdict_is "$c" leaked || bad="$bad $c=$(verdict_of "$c")"
    done
    [ -z "$bad" ] || { echo "did not leak without the jail:$bad"; return 1; }
}
tap_check "control: every channel reached the canary without the jail" control_all_leaked ||
    show_report
json_report_leaked() {
    "$LT_BIN" report --json --state "$LT_STATE" --input "$RUN_OUT" |
        python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if d["leaked"] and len(d["channels"]) > 30 else 1)'
}
tap_check "control: report --json says the same" json_report_leaked
tap_check "control: af-packet is not testable without CAP_NET_RAW" \
    eval 'grep -q "^af-packet *not-testable (no CAP_NET_RAW" "$REPORT"' || show_report

# ---- jailed runs ------------------------------------------------------------------------
jailed() { # RUNTIME LABEL ANNOTATIONS
    local rt=$1 label=$2 ann=$3 id=$W_ID-lt-$1-$2
    world_ctns "lt$rt$label" || tap_bail "cannot make a namespace"
    run_container "$rt" "$id" "$W_NS" yes "io.dnsjail.enable=true $ann" -- "${PROBE_ARGS[@]}"
    report
    tap_check "$rt $label: the probe ran under the hook" \
        grep -q '^# dnsjail-leaktest probe run' "$RUN_OUT" || show_report
    tap_check "$rt $label: report finds no leak (exit 0)" test "$REPORT_RC" -eq 0 || show_report
    tap_check "$rt $label: every channel blocked" all_blocked || show_report
    tap_check "$rt $label: af-packet not testable (the hook refuses CAP_NET_RAW)" \
        verdict_is af-packet not-testable || show_report
}

for rt in runc crun podman; do
    jailed "$rt" norules ""
    jailed "$rt" addr "io.dnsjail.allow=$CANARY4:8443"
done
# An allowed host: everything else stays blocked, and the documented limit shows: the TLS
# connection to the allowed name carries a request for another host, which the canary sees.
# (A proxy held to one connection by a low descriptor limit may not get to it in time: that
# is said, not hidden.)
proxy_single_slot() { grep "\"proxy_limit\"" "$W_LOG" | grep "\"$1\"" | grep -q '"max_connections":1}'; }
for rt in runc crun podman; do
    jailed "$rt" host "io.dnsjail.allow=$ALLOWED"
    if ! grep -q "^limit-sni-host *leaked" "$REPORT" && proxy_single_slot "$RUN_CID"; then
        tap_skip "$rt host: the SNI limit" "the proxy ran with max_connections 1 (RLIMIT_NOFILE)"
        continue
    fi
    tap_check "$rt host: the SNI limit is reported as the documented limit" \
        eval 'grep -q "^limit-sni-host *leaked (documented limit" "$REPORT"' || show_report
done
# Where the policy does not allow the host, the SNI itself is refused.
tap_check "runc norules: an SNI the policy does not allow carries nothing" \
    eval 'grep -q "^limit-sni-host *blocked" "$W_TMP/out/$W_ID-lt-runc-norules.report"'

# ---- a rootfs with nothing but the probe ----------------------------------------------------
# The bundles above see the host's /usr; the probe needs none of it. Without /usr (and so
# without a libc or a shell in the rootfs) it must still run every channel.
world_ctns ltbare || tap_bail "cannot make a namespace"
bare=$(world_bundle "$W_ID-lt-bare" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=true -- "${PROBE_ARGS[@]}") || tap_bail "cannot make a bundle"
/usr/bin/python3 "$W_E2E_DIR/lib/ociedit.py" drop-usr "$bare/config.json" || tap_bail "cannot edit the bundle"
run_runc "$W_ID-lt-bare" "$bare"
report
tap_check "empty rootfs: the static probe ran without /usr" \
    eval '[ ! -e "$bare/rootfs/usr/bin/sh" ] && grep -q "^# dnsjail-leaktest probe run" "$RUN_OUT"' ||
    show_report
tap_check "empty rootfs: every channel blocked" all_blocked || show_report

# ---- AF_PACKET ---------------------------------------------------------------------------
# Raw frames pass below the jail's IP hooks, which is why the hook refuses CAP_NET_RAW. With
# the capability the probe's frame must reach the canary (the control); an admin who sets
# allow-cap-net-raw gets the jail's egress policing (table netdev dnsjail), which drops it; on
# this kernel, which has AF_XDP sockets, the container runs only with allow-af-xdp as well.
# tests/e2e/netraw.sh has the rest (PACKET_QDISC_BYPASS, AF_XDP, the refusal, crun).
raw_run() { # LABEL [bundle.py options]
    local label=$1 id=$W_ID-lt-raw-$1 b
    shift
    world_ctns "ltraw$label" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$id" --netns "$W_NS" --add-cap CAP_NET_RAW:bounding \
        --add-cap CAP_NET_RAW:effective --add-cap CAP_NET_RAW:permitted "$@" -- \
        "${PROBE_ARGS[@]}" --only af-packet) || tap_bail "cannot make a bundle"
    run_runc "$id" "$b"
    report
}
raw_run control
tap_check "af-packet control: with CAP_NET_RAW the frame reaches the canary" \
    verdict_is af-packet leaked || show_report
world_dnsjail_conf --file "$W_TMP/dnsjail-netraw.conf" "allow-cap-net-raw = true" \
    "allow-af-xdp = true"
raw_run jailed --hook "$W_HOOK" --hook-config "$W_TMP/dnsjail-netraw.conf" \
    --annotation io.dnsjail.enable=true
world_dnsjail_conf # W_CONF back to the default config
tap_check "af-packet jailed with allow-cap-net-raw: the probe ran under the hook" \
    grep -q '^# dnsjail-leaktest probe run' "$RUN_OUT" || show_report
tap_check "af-packet jailed with allow-cap-net-raw: the egress policing blocks the frame" \
    verdict_is af-packet blocked || show_report

# ---- engine and resolver sockets mounted into the container (issue 10, item 6) ------------
# Served from the internet namespace like an engine and a resolver on the host: a fake
# docker.sock (sock-relay.py) relays what it is asked to the canary's catch-all port, as a real
# engine's registry lookup would carry TOKEN.ZONE out, and a fake systemd-resolved varlink
# socket (sock-varlink.py) resolves the name it is asked through the canary's DNS. Jailed, the
# hook refuses the mounts (run first: the fakes number their connections, so the control's
# being the first proves nothing came in before); the control (enable=false) must leak through
# both, and so must a jailed container whose admin allowed them (allow-socket-mounts), while
# its network stays jailed.
ENGINE_SOCK=$W_TMP/engine/docker.sock
RESOLVE_SOCK=$W_TMP/engine/resolve/io.systemd.Resolve
ENGINE_LOG=$W_TMP/engine-relay.log
RESOLVE_LOG=$W_TMP/engine-varlink.log
mkdir -p "$W_TMP/engine/resolve" && chmod 755 "$W_TMP/engine" "$W_TMP/engine/resolve" &&
    : >"$ENGINE_LOG" && : >"$RESOLVE_LOG" || tap_bail "cannot make the engine directory"
nsenter --net="$INET" python3 "$W_E2E_DIR/sock-relay.py" "$ENGINE_SOCK" "$ENGINE_LOG" \
    127.0.0.1 10080 >"$W_TMP/engine-relay.out" 2>&1 &
W_PIDS+=($!)
nsenter --net="$INET" python3 "$W_E2E_DIR/sock-varlink.py" "$RESOLVE_SOCK" "$RESOLVE_LOG" \
    127.0.0.1 10053 >"$W_TMP/engine-varlink.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/engine-relay.out" || tap_bail "the fake docker.sock does not listen"
wait_until 10 grep -qs '^ready' "$W_TMP/engine-varlink.out" ||
    tap_bail "the fake io.systemd.Resolve does not listen"
engine_run() { # LABEL CONF ENABLE
    local id=$W_ID-lt-engine-$1 b
    world_ctns "lteng$1" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$id" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$2" \
        --annotation "io.dnsjail.enable=$3" --bind "$ENGINE_SOCK:/var/run/docker.sock" \
        --bind "$RESOLVE_SOCK:/run/systemd/resolve/io.systemd.Resolve" -- \
        "${PROBE_ARGS[@]}" --only engine-socket --only dns-udp-a) || tap_bail "cannot make a bundle"
    run_runc "$id" "$b"
}
conns() { grep -c '^conn [0-9]* data=' "$1"; }
probe_ran() { grep -q '^# dnsjail-leaktest probe run' "$RUN_OUT"; }
# Both doors carried the channel's token: the engine's pull to the canary's catch-all port,
# the resolver's lookup to its DNS.
both_doors() {
    local t
    t=$(probe_field "$RUN_OUT" engine-socket token)
    [ -n "$t" ] && grep -q "^[0-9.]* tcp [0-9]* [^ ]* POST\\\\x20/images/create?fromImage=$t\\." "$LT_STATE" &&
        grep -q "^[0-9.]* dns-udp [0-9]* [^ ]* $t\\.$ZONE" "$LT_STATE"
}
engine_checks() { # LABEL
    tap_check "$1: the engine and the resolver carried the token to the canary" both_doors ||
        { show_report; tap_diag_file "$ENGINE_LOG" 3; tap_diag_file "$RESOLVE_LOG" 3; }
    tap_check "$1: report says engine-socket leaked" verdict_is engine-socket leaked || show_report
}

engine_run refused "$W_CONF" true
tap_check "engine-socket jailed: runc refuses the container" test "$RUN_RC" -ne 0
tap_check "engine-socket jailed: the probe never ran" eval '! probe_ran' || tap_diag_file "$RUN_OUT" 5
tap_check "engine-socket jailed: the error names the mount and the engine's socket" \
    grep -qF "the bind mount of $ENGINE_SOCK onto /var/run/docker.sock gives the container the socket $ENGINE_SOCK" "$RUN_ERR" ||
    tap_diag_file "$RUN_ERR" 5
tap_check "engine-socket jailed: the refusal is logged (jail_refused)" log_has_event jail_refused "$RUN_CID"
tap_check "engine-socket jailed: neither socket got a connection" \
    eval '[ "$(conns "$ENGINE_LOG")" -eq 0 ] && [ "$(conns "$RESOLVE_LOG")" -eq 0 ]'

engine_run control "$W_CONF" false
report
tap_check "engine-socket control (enable=false): the probe ran" probe_ran || show_report
engine_checks "engine-socket control"
tap_check "engine-socket control: and plain DNS got out too (no jail)" verdict_is dns-udp-a leaked ||
    show_report
first_conns_are() { # TOKEN
    grep -qF "conn 1 data=b'POST /images/create?fromImage=$1.$ZONE/leaktest&" "$ENGINE_LOG" &&
        grep -qF "conn 1 data=b'{\"method\":\"io.systemd.Resolve.ResolveHostname\",\"parameters\":{\"name\":\"$1.$ZONE\"}}" "$RESOLVE_LOG"
}
tap_check "engine-socket control: the first connection each socket ever got is the control's" \
    first_conns_are "$(probe_field "$RUN_OUT" engine-socket token)" ||
    { tap_diag_file "$ENGINE_LOG" 3; tap_diag_file "$RESOLVE_LOG" 3; }

world_dnsjail_conf --file "$W_TMP/dnsjail-sock.conf" "allow-socket-mounts = $ENGINE_SOCK, $RESOLVE_SOCK"
SOCK_CONF=$W_CONF
world_dnsjail_conf # W_CONF back to the default config
engine_run allowed "$SOCK_CONF" true
report
tap_check "engine-socket with allow-socket-mounts: the jailed probe ran" probe_ran || show_report
tap_check "engine-socket with allow-socket-mounts: it was jailed (jail_started)" \
    log_has_event jail_started "$RUN_CID"
engine_checks "engine-socket with allow-socket-mounts (the doors the admin opened)"
tap_check "engine-socket with allow-socket-mounts: report exit 1" test "$REPORT_RC" -eq 1 || show_report
tap_check "engine-socket with allow-socket-mounts: the network itself stays jailed" \
    verdict_is dns-udp-a blocked || show_report
tap_check "engine-socket: without a socket the channel is not-testable" \
    eval 'grep -q "^engine-socket *not-testable (no engine or resolver socket here)" "$W_TMP/out/$W_ID-lt-runc-norules.report"'

# ---- iodine -----------------------------------------------------------------------------
# iodined is the tunnel's server, in a namespace behind the internet (198.51.100.128/26 is
# routed there, so the canary's redirect never sees it); the client asks it directly. The
# client needs /dev/net/tun and CAP_NET_ADMIN; for the jailed run the admin config allows
# CAP_NET_ADMIN (the hook refuses it otherwise), which is the strongest case: the tunnel
# must fail on the network alone.
if ! command -v iodine >/dev/null || ! command -v iodined >/dev/null; then
    tap_not_ok "iodine tunnel tests: iodine is not installed (scripts/install-deps.sh test)"
else
    world_servers_ns iodine 198.51.100.128/26 || tap_bail "cannot make the iodine namespace"
    IODINE_NS=$W_SRV_NS
    nsenter --net="$IODINE_NS" iodined -f -c -P leaktest-pw -l 198.51.100.130 -p 53 \
        10.53.0.1/27 tunnel.test >"$W_TMP/iodined.out" 2>&1 &
    W_PIDS+=($!)
    tap_check "iodined is up" wait_until 10 eval 'ip -n "$(basename "$IODINE_NS")" addr show | grep -q 10.53.0.1' ||
        tap_diag_file "$W_TMP/iodined.out"
    world_dnsjail_conf --file "$W_TMP/dnsjail-netadmin.conf" "allow-cap-net-admin = true"
    NETADMIN_CONF=$W_TMP/dnsjail-netadmin.conf
    world_dnsjail_conf # W_CONF back to the default config
    # The client runs for at most 12 s and prints the tunnel's address once it is up.
    iodine_bundle() { # ID NSPATH [--hook ...]
        local id=$1 ns=$2 b
        shift 2
        b=$(world_bundle "$id" --netns "$ns" --add-cap CAP_NET_ADMIN:bounding \
            --add-cap CAP_NET_ADMIN:effective --add-cap CAP_NET_ADMIN:permitted "$@" -- \
            /usr/bin/timeout 12 /usr/sbin/iodine -f -r -P leaktest-pw 198.51.100.130 tunnel.test) ||
            return 1
        /usr/bin/python3 "$W_E2E_DIR/lib/ociedit.py" add-tun "$b/config.json" || return 1
        echo "$b"
    }
    tunnel_up() { grep -q "Connection setup complete" "$RUN_OUT" "$RUN_ERR"; }

    world_ctns iodctl || tap_bail "cannot make a namespace"
    b=$(iodine_bundle "$W_ID-iodine-control" "$W_NS") || tap_bail "cannot make the iodine bundle"
    run_runc "$W_ID-iodine-control" "$b"
    tap_check "iodine control: the tunnel comes up without the jail" tunnel_up ||
        { tap_diag_file "$RUN_ERR" 20; tap_diag_file "$W_TMP/iodined.out" 10; }

    world_ctns iodjail || tap_bail "cannot make a namespace"
    cp "$W_TMP/iodined.out" "$W_TMP/iodined.out.before"
    b=$(iodine_bundle "$W_ID-iodine-jailed" "$W_NS" --hook "$W_HOOK" --hook-config "$NETADMIN_CONF" \
        --annotation io.dnsjail.enable=true) || tap_bail "cannot make the iodine bundle"
    run_runc "$W_ID-iodine-jailed" "$b"
    tap_check "iodine jailed: no tunnel" eval '! tunnel_up' || tap_diag_file "$RUN_ERR" 20
    tap_check "iodine jailed: iodine gave up with a failure" test "$RUN_RC" -ne 0
    tap_check "iodine jailed: iodined saw no new client" \
        cmp -s "$W_TMP/iodined.out" "$W_TMP/iodined.out.before" ||
        tap_diag "$(diff "$W_TMP/iodined.out.before" "$W_TMP/iodined.out" | tail -5)"
    tap_check "iodine jailed: the stub logged the tunnel's queries" \
        grep -q 'tunnel\.test' "$W_LOG"
fi
tap_done
