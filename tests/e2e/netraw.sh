#!/bin/bash
# netraw.sh: containers that keep CAP_NET_RAW under allow-cap-net-raw = true. Raw frames pass
# no inet hook; the jail then adds table netdev dnsjail, whose egress chain lets out only what
# the inet table's last output chain marked with the jail's secret (and ARP, and IPv6
# neighbour discovery on the link). First the ordinary jailed battery and the address rules
# must still work with that table in place; then dnsjail-leaktest's raw channels (AF_PACKET,
# AF_PACKET with PACKET_QDISC_BYPASS, AF_XDP) run without the hook, with the hook and
# io.dnsjail.enable=false (both must reach the canary: the positive controls) and jailed
# under runc and crun, where AF_PACKET must not get out and AF_XDP, which no netfilter hook
# sees, gets out: the channel the admin accepted with allow-af-xdp = true. Without that key
# (this kernel has AF_XDP sockets, as the controls show) the same containers are refused.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun nft dnsmasq dig
world_require_build
LT_BIN=$top_builddir/leaktest/dnsjail-leaktest
[ -x "$LT_BIN" ] || tap_skip_all "not built: $LT_BIN"
world_up
# allow-af-xdp accepts AF_XDP's frames, or no container with CAP_NET_RAW runs on this kernel.
NOXDP_CONF=$W_TMP/dnsjail-netraw-noxdp.conf
world_dnsjail_conf --file "$NOXDP_CONF" "allow-cap-net-raw = true" ||
    tap_bail "cannot write the dnsjail configuration"
RAW_CONF=$W_TMP/dnsjail-netraw.conf
world_dnsjail_conf --file "$RAW_CONF" "allow-cap-net-raw = true" "allow-af-xdp = true" ||
    tap_bail "cannot write the dnsjail configuration"

eval "$(declare -f world_rootfs | sed '1s/world_rootfs/_world_rootfs_plain/')"
world_rootfs() {
    _world_rootfs_plain "$1" && install -m 755 "$LT_BIN" "$1/dnsjail-leaktest"
}
RAW_CAPS=(--add-cap CAP_NET_RAW:bounding --add-cap CAP_NET_RAW:effective
    --add-cap CAP_NET_RAW:permitted)

# ---- the jail still works with the netdev table ------------------------------------------
# W_CONF is the raw configuration here: every jail gets the netdev table.
world_battery_jailed runc

# Address rules leave through the container's interface, so they pass the egress chain: the
# mark must be there (IPv4) and neighbour discovery must work (IPv6, whose neighbour
# solicitations go to link-scope multicast and are not marked).
tag=$(world_random)
world_ctns rawaddr || tap_bail "cannot make a namespace"
ADDR_NS=$W_NS
b=$(world_bundle "$W_ID-raw-addr" --netns "$ADDR_NS" "${RAW_CAPS[@]}" --hook "$W_HOOK" \
    --hook-config "$RAW_CONF" --annotation io.dnsjail.enable=true \
    --annotation "io.dnsjail.allow=203.0.113.9:9999,[2001:db8::1]:22" -- /usr/bin/python3 \
    /probe.py "tcp|tcp9999|203.0.113.9|9999|tok-$tag-a4" "tcp|tcp6_22|2001:db8::1|22|tok-$tag-a6" \
    "tcp|tcp22|192.0.2.1|22|tok-$tag-no") ||
    tap_bail "cannot make a bundle"
run_runc "$W_ID-raw-addr" "$b"
tap_check "address rules: the container with CAP_NET_RAW ran jailed" \
    grep -q '^probe-done' "$RUN_OUT" || _show_run
tap_check "address rules: IPv4 rule connected through the egress chain" \
    probe_is "$RUN_OUT" tcp9999 status connected || _show_run
tap_check "address rules: the canary saw the IPv4 rule's token" canary_saw_net "tok-$tag-a4"
tap_check "address rules: IPv6 rule connected (neighbour discovery works)" \
    probe_is "$RUN_OUT" tcp6_22 status connected || _show_run
tap_check "address rules: the canary saw the IPv6 rule's token" canary_saw_net "tok-$tag-a6"
tap_check "address rules: a destination no rule names is still refused" \
    probe_isnt "$RUN_OUT" tcp22 status connected || _show_run
tap_check "address rules: the canary did not see the refused token" \
    eval 'canary_none_net "tok-$tag-no"'
tap_check "address rules: the jail's raw_frames_limit line names AF_XDP" \
    eval 'grep "\"raw_frames_limit\"" "$W_LOG" | grep -q "$W_ID-raw-addr"' || tap_diag_file "$W_LOG" 5
tap_check "address rules: poststop removed both tables" \
    eval '! nsenter --net="$ADDR_NS" nft list tables | grep -q dnsjail'

# While a jailed container runs: the netdev table is bound to its interface.
world_ctns rawlive || tap_bail "cannot make a namespace"
LIVE_NS=$W_NS
b=$(world_bundle "$W_ID-raw-live" --netns "$LIVE_NS" "${RAW_CAPS[@]}" --hook "$W_HOOK" \
    --hook-config "$RAW_CONF" --annotation io.dnsjail.enable=true -- /bin/sleep 30) ||
    tap_bail "cannot make a bundle"
W_CONTAINERS+=("runc $W_ID-raw-live")
runc_cmd run -d --bundle "$b" "$W_ID-raw-live" >/dev/null 2>&1 </dev/null
live_table() { nsenter --net="$LIVE_NS" nft list table netdev dnsjail 2>/dev/null; }
tap_check "running: table netdev dnsjail has an egress chain on the container's interface" \
    eval 'live_table | grep -q "hook egress device"' || live_table | tap_diag_file /dev/stdin 20
tap_check "running: inet dnsjail has the raw_mark chain last on output" \
    eval 'nsenter --net="$LIVE_NS" nft list chain inet dnsjail raw_mark | grep -q "priority 2147483647"'
runc_cmd kill "$W_ID-raw-live" KILL >/dev/null 2>&1
wait_until 10 eval '! runc_cmd state "$W_ID-raw-live" 2>/dev/null | grep -q running'
runc_cmd delete -f "$W_ID-raw-live" >/dev/null 2>&1
tap_check "running: after delete, no dnsjail table is left in the namespace" \
    eval '! nsenter --net="$LIVE_NS" nft list tables | grep -q dnsjail'

# ---- raw frames to the canary ---------------------------------------------------------------
ZONE=canary.test
CANARY4=203.0.113.80
LT_STATE=$W_TMP/leaktest-canary.state
INET=/run/netns/$W_INET
nsenter --net="$INET" "$LT_BIN" canary --zone "$ZONE" --dns-port 10053 --catch-tcp 10080 \
    --catch-udp 10123 --state "$LT_STATE" --user 65534 2>"$W_TMP/leaktest-canary.err" &
W_PIDS+=($!)
tap_check "canary is up" wait_until 10 grep -q '^ready' "$W_TMP/leaktest-canary.err" ||
    tap_bail "$(cat "$W_TMP/leaktest-canary.err")"
nsenter --net="$INET" nft -f - <<'EOF' || tap_bail "cannot redirect the internet to the canary"
table inet netraw {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "djbr" meta l4proto udp redirect to :10123
    }
}
EOF

PROBE=(/dnsjail-leaktest probe --canary-zone "$ZONE" --canary-addr "$CANARY4" --timeout-ms 800
    --only af-packet --only af-packet-bypass --only af-xdp)
report() {
    REPORT=$W_TMP/out/$RUN_CID.report
    # AF_XDP goes last: its frame at the canary is the event that shows the others had time.
    wait_until 5 eval '"$LT_BIN" report --state "$LT_STATE" --input "$RUN_OUT" |
        grep -q "^af-xdp *leaked"'
    "$LT_BIN" report --state "$LT_STATE" --input "$RUN_OUT" >"$REPORT" 2>&1
}
verdict_is() { [ "$(awk -v c="$1" '$1 == c { print $2 }' "$REPORT")" = "$2" ]; }
show_report() { tap_diag_file "$REPORT" 10; tap_diag_file "$RUN_ERR" 10; }
raw_run() { # RUNTIME LABEL [bundle.py options]
    local rt=$1 label=$2 id=$W_ID-raw-$1-$2 b
    shift 2
    world_ctns "raw$rt$label" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$id" --netns "$W_NS" "${RAW_CAPS[@]}" "$@" -- "${PROBE[@]}") ||
        tap_bail "cannot make a bundle"
    "run_$rt" "$id" "$b"
    report
}
all_leaked() { verdict_is af-packet leaked && verdict_is af-packet-bypass leaked && verdict_is af-xdp leaked; }

raw_run runc control
tap_check "control, no hook: every raw channel reaches the canary" all_leaked || show_report
raw_run runc disabled --hook "$W_HOOK" --hook-config "$RAW_CONF" \
    --annotation io.dnsjail.enable=false
tap_check "control, io.dnsjail.enable=false: every raw channel reaches the canary" all_leaked ||
    show_report

for rt in runc crun; do
    raw_run "$rt" jailed --hook "$W_HOOK" --hook-config "$RAW_CONF" \
        --annotation io.dnsjail.enable=true
    tap_check "$rt jailed: the probe ran under the hook" \
        grep -q '^# dnsjail-leaktest probe run' "$RUN_OUT" || show_report
    tap_check "$rt jailed: AF_PACKET frame blocked by the egress chain" \
        verdict_is af-packet blocked || show_report
    tap_check "$rt jailed: AF_PACKET with PACKET_QDISC_BYPASS blocked too" \
        verdict_is af-packet-bypass blocked || show_report
    tap_check "$rt jailed: the senders were told (the drop returns ENOBUFS)" \
        eval 'grep -c "No buffer space available" "$RUN_OUT" | grep -qx 2' || show_report
    tap_check "$rt jailed: AF_XDP passes below every hook (what allow-af-xdp accepts)" \
        verdict_is af-xdp leaked || show_report
done

# ---- without allow-af-xdp: refused ----------------------------------------------------------
# The same containers under allow-cap-net-raw alone must not start: AF_XDP would get out, as
# the jailed runs above show. runc passes the hook's line on in its stderr; crun does not, so
# there the log's jail_refused line (the same message) is read.
refused_noxdp() { # RUNTIME LABEL [bundle.py options]
    local rt=$1 label=$2 id=$W_ID-raw-$1-$2 b where
    shift 2
    world_ctns "raw$rt$label" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$id" --netns "$W_NS" "$@" --hook "$W_HOOK" --hook-config "$NOXDP_CONF" \
        --annotation io.dnsjail.enable=true -- "${PROBE[@]}") || tap_bail "cannot make a bundle"
    "run_$rt" "$id" "$b"
    where=$RUN_ERR
    [ "$rt" = crun ] && where=$W_LOG
    tap_check "$rt $label, no allow-af-xdp: $rt fails" test "$RUN_RC" -ne 0
    tap_check "$rt $label, no allow-af-xdp: the container did not run" \
        eval '! grep -q "dnsjail-leaktest probe run" "$RUN_OUT"' || tap_diag_file "$RUN_OUT" 5
    tap_check "$rt $label, no allow-af-xdp: $([ "$rt" = crun ] && echo "the log" || echo stderr) names both keys and why" \
        grep -qF "container $id holds CAP_NET_RAW and this kernel has AF_XDP sockets, whose frames leave below the jail even with allow-cap-net-raw; drop it (e.g. --cap-drop NET_RAW) or also set allow-af-xdp in the config" "$where" ||
        { tap_diag_file "$RUN_ERR" 5; tap_diag_file "$W_LOG" 3; }
    if [ "$rt" = runc ]; then
        tap_check "$rt $label, no allow-af-xdp: exactly one dnsjail line on stderr" \
            test "$(grep -c 'dnsjail: ' "$RUN_ERR")" -eq 1
    fi
    tap_check "$rt $label, no allow-af-xdp: the refusal is in the log (jail_refused)" \
        log_has_event jail_refused "$id"
    assert_gone "$rt $label, no allow-af-xdp" "$id" "$W_NS"
}
refused_noxdp runc refused "${RAW_CAPS[@]}"
# Any capability set counts: from the bounding set alone a file capability can raise it again.
refused_noxdp runc refused-bounding --add-cap CAP_NET_RAW:bounding
refused_noxdp crun refused "${RAW_CAPS[@]}"
tap_check "without allow-af-xdp: no raw_frames_limit line for a refused container" \
    eval '! grep "\"raw_frames_limit\"" "$W_LOG" | grep -q -- "-refused"'
tap_done
