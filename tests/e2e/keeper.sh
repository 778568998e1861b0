#!/bin/bash
# keeper.sh: the keeper (lib/jail/keeper.h, docs/DESIGN.md "The keeper"). The first jailed
# container makes it: a namespace of ours pinned beside the state dir, holding table inet
# dnsjail with empty accepting nat and filter output chains; the next container finds it and
# makes none (same namespace, one mount); `dnsjail status` says whether it is there; where it
# cannot be made the hook says why (keeper_unavailable) and still jails the container. The
# suite removes it at the end (world.sh's cleanup removes any suite's).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq nft
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
PIN=$(world_keeper_pin)

# A detached jailed container (config CONF) in a fresh namespace of its own, running sleep.
start_detached() { # ID CONF
    local id=$1 b
    world_ctns "${id#"$W_ID"-}" || return 1
    b=$(world_bundle "$id" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$2" \
        --annotation io.dnsjail.enable=true -- /bin/sleep 300) || return 1
    W_CONTAINERS+=("runc $id")
    _run_capture "$id" runc_cmd run -d --bundle "$b" "$id"
    [ "$RUN_RC" -eq 0 ] || { tap_diag_file "$RUN_ERR" 5; return 1; }
}
resolves_sinkhole() { # ID NAME
    runc_cmd exec "$1" /usr/bin/python3 /probe.py "dns|dns|$2.attacker.test|A|-|udp" \
        >"$W_TMP/out/$1.exec" 2>&1
    probe_is "$W_TMP/out/$1.exec" dns answers A:6.6.6.6 || { tap_diag_file "$W_TMP/out/$1.exec" 5; return 1; }
}
pin_mounts() { grep -c " $1 " /proc/self/mountinfo; } # PATH: mounts on it in this namespace
is_pinned_netns() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = nsfs ] && [ "$(pin_mounts "$1")" = 1 ]; }
keeper_ruleset() { nsenter --net="$PIN" nft list ruleset; }
events_of() { grep -c "\"event\":\"$1\"" "$W_LOG"; } # EVENT: how many lines the log has
status_keeper() { "$top_builddir/cli/dnsjail" --config "$W_CONF" status 2>&1 | grep -F "$PIN"; }
ps_keeper() { "$top_builddir/cli/dnsjail" --config "$W_CONF" ps 2>&1 | grep -F "keeper: $PIN"; }

tap_check "no keeper before the first jailed container" eval '! is_pinned_netns "$PIN"'
tap_check "dnsjail status says there is none yet" eval 'status_keeper | grep -q "none yet"' ||
    tap_diag "$("$top_builddir/cli/dnsjail" --config "$W_CONF" status 2>&1 | tail -n 20)"
tap_check "dnsjail ps says there is none yet" eval 'ps_keeper | grep -q ": none yet"'

# ---- the first jailed container makes it ---------------------------------------------------
start_detached "$W_ID-first" "$W_CONF" || tap_bail "cannot start the first container"
first_cid=$RUN_CID
tap_check "first: the container is jailed" resolves_sinkhole "$W_ID-first" first-$W_ID
tap_check "first: the keeper's namespace is pinned beside the state dir" is_pinned_netns "$PIN" ||
    tap_diag "$(grep -F -- "-keeper" /proc/self/mountinfo)"
tap_check "first: the hook logged keeper_created for it" log_has_event keeper_created "$first_cid" ||
    tap_diag_file "$W_LOG" 10
tap_check "first: the keeper is a namespace of its own, not the host's" \
    eval '[ "$(stat -L -c %i "$PIN")" != "$(stat -L -c %i /proc/self/ns/net)" ]'
keeper_ruleset >"$W_TMP/out/keeper.nft" 2>&1
tap_check "first: its table has a nat output chain" \
    grep -q "type nat hook output priority .* policy accept" "$W_TMP/out/keeper.nft" ||
    tap_diag_file "$W_TMP/out/keeper.nft" 30
tap_check "first: its table has a filter output chain, accepting" \
    grep -q "type filter hook output priority .* policy accept" "$W_TMP/out/keeper.nft"
tap_check "first: its chains hold no rules (only table, chain and type lines)" \
    eval '! grep -vE "^\s*(table inet dnsjail \{|chain [a-z_]+ \{|type .* policy accept;|\}|)\s*$" "$W_TMP/out/keeper.nft"'
tap_check "first: nothing of it under the state dir (the leftover checks still hold)" no_mounts_under_state
tap_check "dnsjail status says it is pinned" eval 'status_keeper | grep -q pinned'
tap_check "dnsjail ps says it is pinned" eval 'ps_keeper | grep -q ": pinned"' ||
    tap_diag "$("$top_builddir/cli/dnsjail" --config "$W_CONF" ps 2>&1 | tail -n 8)"
inode=$(stat -L -c %i "$PIN")

# ---- the second finds it --------------------------------------------------------------------
start_detached "$W_ID-second" "$W_CONF" || tap_bail "cannot start the second container"
tap_check "second: the container is jailed" resolves_sinkhole "$W_ID-second" second-$W_ID
tap_check "second: the same keeper (same namespace inode), one mount" \
    eval '[ "$(stat -L -c %i "$PIN")" = "$inode" ] && is_pinned_netns "$PIN"'
tap_check "second: no second keeper_created" eval '[ "$(events_of keeper_created)" = 1 ]'

# ---- where it cannot be made ------------------------------------------------------------------
# A state dir whose keeper directory is a file: the pin cannot be made, as when the mount is
# refused. The positive control is the first case above (same hook, a usable place).
UNAVAIL_STATE=$W_TMP/state-unavailable
UNAVAIL_CONF=$W_TMP/dnsjail-unavailable.conf
cp "$W_CONF" "$UNAVAIL_CONF" && sed -i "s#^state-dir = .*#state-dir = $UNAVAIL_STATE#" "$UNAVAIL_CONF" ||
    tap_bail "cannot write the second configuration"
grep -q "^state-dir = $UNAVAIL_STATE\$" "$UNAVAIL_CONF" || tap_bail "no state-dir line to change"
echo "not a directory" >"$UNAVAIL_STATE-keeper"
start_detached "$W_ID-unavail" "$UNAVAIL_CONF" || tap_bail "cannot start the third container"
unavail_cid=$RUN_CID
tap_check "unavailable: the container is still jailed" resolves_sinkhole "$W_ID-unavail" unavail-$W_ID
tap_check "unavailable: the hook says why (keeper_unavailable)" \
    log_has_event keeper_unavailable "$unavail_cid" || tap_diag_file "$W_LOG" 10
tap_check "unavailable: no keeper_created, nothing mounted there" \
    eval '! log_has_event keeper_created "$unavail_cid" && [ "$(pin_mounts "$UNAVAIL_STATE-keeper/netns")" = 0 ]'
runc_cmd delete -f "$W_ID-unavail" >/dev/null 2>&1

# ---- removal ------------------------------------------------------------------------------------
runc_cmd delete -f "$W_ID-first" >/dev/null 2>&1
runc_cmd delete -f "$W_ID-second" >/dev/null 2>&1
tap_check "the keeper outlives the containers" eval '[ "$(stat -L -c %i "$PIN")" = "$inode" ]'
world_remove_keeper
tap_check "removed: the pin is gone, nothing mounted" \
    eval '[ ! -e "$PIN" ] && [ "$(pin_mounts "$PIN")" = 0 ]'
tap_check "removed: dnsjail status says there is none" eval 'status_keeper | grep -q "none yet"'
tap_done
