#!/bin/bash
# shared-netns.sh: one jail per network namespace when its daemons die and containers come and
# go (issue 10, items 1 and 2). Containers share a pinned namespace as in a pod.
#   crash, join, leave: E's stub is killed; E stays closed; F joins and repairs the jail for
#     both; F leaves and the table stays while E runs, E still jailed; E leaves, all gone.
#   crash, leave: E's stub is killed, E leaves: everything is cleaned up.
#   held: a process that is not a member (as a member's child that outlived it) keeps the
#     table after the last member left; it is closed; once it is gone a newcomer starts afresh.
#   own namespaces: a container whose network and pid namespaces the runtime made ends while
#     a process that entered from outside holds its network namespace: the jail stops without
#     a look through /proc, its state goes, the table stays with the namespace.
#   unjailed joiner: enable=false (annotation, or the config's default-enable) joining a
#     jailed namespace is refused with one line naming the conflict; the jail is untouched.
# Every "did not get out" has its control: the same probe with the jail off gets out.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq dig
world_require_build
world_up
world_dnsjail_conf --file "$W_TMP/default-off.conf" "default-enable = false" ||
    tap_bail "cannot write the dnsjail configuration"
OFF_CONF=$W_CONF
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

JAIL=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true
    --annotation io.dnsjail.allow=example.com)
PROXY_EXE=$(dirname "$W_STUB_EXE")/dnsjail-proxy

all_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# A detached container running sleep in NSPATH. RUNTIME runc or crun.
start_in() { # RUNTIME ID NSPATH [bundle.py options]
    local rt=$1 id=$2 ns=$3 b
    shift 3
    b=$(world_bundle "$id" --netns "$ns" "$@" -- /bin/sleep 300) || return 1
    W_CONTAINERS+=("$rt $id")
    _run_capture "$id" "${rt}_cmd" run -d --bundle "$b" "$id"
    [ "$RUN_RC" -eq 0 ] || { tap_diag_file "$RUN_ERR" 5; return 1; }
}

# The probes: a DNS query with a fresh name to the canary resolver, and an HTTP request with a
# fresh token to a host the policy does not allow. PROBE_OUT gets the results, PROBE_TAG the tag.
probe_args() { # TAG
    echo "dns|dns|shared-$1.attacker.test|A|192.0.2.1|udp"
    echo "tcp|http|192.0.2.1|80|tok-$1-http"
}
probe_run() { # PREFIX CMD...: runs CMD with the probes' arguments appended
    local prefix=$1 args=()
    shift
    PROBE_TAG=$(world_random)
    PROBE_OUT=$W_TMP/out/$prefix.$PROBE_TAG.probe
    mapfile -t args < <(probe_args "$PROBE_TAG")
    "$@" "${args[@]}" >"$PROBE_OUT" 2>&1
}
probe_exec() { # ID: runs the probes in container ID (runc exec)
    probe_run "$1" runc_cmd exec "$1" /usr/bin/python3 /probe.py
}
probe_nsenter() { # NSPATH: runs the probes as a process of the namespace that is no container
    probe_run ns nsenter --net="$1" /usr/bin/python3 "$W_E2E_DIR/probe.py"
}
# The probes ran to their end (the positive event after which the canary is read).
probes_done() { grep -q '^probe-done' "$PROBE_OUT" || { tap_diag_file "$PROBE_OUT" 5; return 1; }; }
nothing_out() { # the canary saw neither token
    canary_none "shared-$PROBE_TAG" && canary_none "tok-$PROBE_TAG" ||
        { tap_diag_file "$PROBE_OUT" 5; return 1; }
}
# Served by the jail: the stub's sinkhole answer, the proxy's HTTP refusal, nothing outside.
served_by_jail() {
    probes_done && probe_is "$PROBE_OUT" dns answers A:6.6.6.6 &&
        grep -q "^http .*status=connected reply=b.HTTP/1.1 4" "$PROBE_OUT" && nothing_out ||
        { tap_diag_file "$PROBE_OUT" 5; return 1; }
}
# Closed: no answer from anywhere to DNS (its port is served by nobody), nothing outside.
closed() {
    probes_done && probe_isnt "$PROBE_OUT" dns answers A:203.0.113.7 &&
        probe_isnt "$PROBE_OUT" dns answers A:6.6.6.6 && nothing_out ||
        { tap_diag_file "$PROBE_OUT" 5; return 1; }
}
# Out: what the jail stops reached the canary (the controls).
got_out() {
    probes_done && probe_is "$PROBE_OUT" dns answers A:203.0.113.7 &&
        canary_saw_dns "shared-$PROBE_TAG" && canary_saw_net "tok-$PROBE_TAG" ||
        { tap_diag_file "$PROBE_OUT" 5; return 1; }
}
members_of() { # NSPATH: the member ids the state records for the namespace
    local key
    key=$(stat -L -c '%d-%i' "$1") || return 1
    ls "$W_STATE/netns/$key/members" 2>/dev/null | sort | tr '\n' ' '
}

# ---- controls: the same probes with the jail off get out ---------------------------------
world_ctns ctl || tap_bail "cannot make a namespace"
ns=$W_NS
tap_check "control: E without the jail starts" \
    start_in runc "$W_ID-ctl-e" "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=false
tap_check "control: F without the jail joins E's namespace" \
    start_in runc "$W_ID-ctl-f" "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=false
probe_exec "$W_ID-ctl-e"
tap_check "control: E's DNS query and HTTP token reach the canary" got_out
tap_check "control: no table in the namespace" no_nft_table_in "$ns"
runc_cmd delete -f "$W_ID-ctl-f" >/dev/null 2>&1
runc_cmd delete -f "$W_ID-ctl-e" >/dev/null 2>&1
tap_check "control: a process of the namespace that is no container gets out" \
    eval 'probe_nsenter "$ns"; got_out'

# ---- crash, join, leave --------------------------------------------------------------------
world_ctns crash || tap_bail "cannot make a namespace"
ns=$W_NS
e=$W_ID-crash-e
f=$W_ID-crash-f
tap_check "crash: E starts jailed" start_in runc "$e" "$ns" "${JAIL[@]}"
probe_exec "$e"
tap_check "crash: E is served by the jail" served_by_jail
stub=$(daemons_of "$W_STUB_EXE")
tap_check "crash: one stub" test "$(echo "$stub" | wc -w)" -eq 1
# The namespace scan that decides whether the table may go counts no daemon of ours: they run
# in the hook's namespace, never in the container's.
tap_check "crash: the stub runs outside the container's namespace" \
    test "$(stat -L -c %d-%i "/proc/$stub/ns/net")" != "$(stat -L -c %d-%i "$ns")"
kill -9 $stub
tap_check "crash: E's stub is dead" wait_until 5 all_gone $stub
probe_exec "$e"
tap_check "crash: with its stub dead, E is closed (DNS unanswered, nothing outside)" closed
tap_check "crash: F joins E's namespace" start_in runc "$f" "$ns" "${JAIL[@]}"
tap_check "crash: the log says F's hook repaired the jail" log_has_event jail_repaired "$f" ||
    tap_diag_file "$W_LOG" 5
tap_check "crash: one stub and one proxy again" \
    eval '[ "$(daemons_of "$W_STUB_EXE" | wc -l)" -eq 1 ] && [ "$(daemons_of "$PROXY_EXE" | wc -l)" -eq 1 ]'
tap_check "crash: both E and F are members" test "$(members_of "$ns")" = "$(printf '%s\n' "$e" "$f" | sort | tr '\n' ' ')"
probe_exec "$e"
tap_check "crash: after F joined, E is served by the repaired jail" served_by_jail
probe_exec "$f"
tap_check "crash: F is served by the same jail" served_by_jail
runc_cmd delete -f "$f" >/dev/null 2>&1
tap_check "crash: F left" state_clean_for "$f"
tap_check "crash: after F left, the table is still there while E runs" nft_table_in "$ns"
probe_exec "$e"
tap_check "crash: after F left, E is still served by the jail" served_by_jail
runc_cmd delete -f "$e" >/dev/null 2>&1
tap_check "crash: E left last: no stub, no proxy" \
    wait_until 5 eval '[ -z "$(daemons_of "$W_STUB_EXE")$(daemons_of "$PROXY_EXE")" ]'
assert_gone "crash: E left last" "$e" "$ns"

# ---- crash, leave --------------------------------------------------------------------------
world_ctns crashleave || tap_bail "cannot make a namespace"
ns=$W_NS
e=$W_ID-cl-e
tap_check "crash, leave: E starts jailed" start_in runc "$e" "$ns" "${JAIL[@]}"
stub=$(daemons_of "$W_STUB_EXE")
kill -9 $stub
tap_check "crash, leave: E's stub is dead" wait_until 5 all_gone $stub
runc_cmd delete -f "$e" >/dev/null 2>&1
tap_check "crash, leave: the proxy went with E" wait_until 5 eval '[ -z "$(daemons_of "$PROXY_EXE")" ]'
assert_gone "crash, leave" "$e" "$ns"

# ---- held: a process that is no member outlives the last member ---------------------------
world_ctns held || tap_bail "cannot make a namespace"
ns=$W_NS
e=$W_ID-held-e
g=$W_ID-held-g
tap_check "held: E starts jailed" start_in runc "$e" "$ns" "${JAIL[@]}"
# Stands for a member's child that outlived it (shared pid namespace) or a member whose record
# was lost: in the namespace after the jail, and no member.
nsenter --net="$ns" /bin/sleep 300 &
stray=$!
world_on_cleanup kill "$stray"
tap_check "held: the stray process is in the namespace" \
    wait_until 5 eval '[ "$(stat -L -c %i /proc/$stray/ns/net)" = "$(stat -L -c %i "$ns")" ]'
runc_cmd delete -f "$e" >/dev/null 2>&1
tap_check "held: E (the last member) left" state_clean_for "$e"
tap_check "held: the log says the jail is held" log_has_event jail_held "$e" || tap_diag_file "$W_LOG" 5
tap_check "held: the table stays while the stray process runs" nft_table_in "$ns"
probe_nsenter "$ns"
tap_check "held: a process of the namespace is closed (nothing outside)" closed
tap_check "held: an unjailed container is refused there" \
    eval '! start_in runc "$g-off" "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false'
runc_cmd delete -f "$g-off" >/dev/null 2>&1
kill "$stray"
wait "$stray" 2>/dev/null
tap_check "held: the stray process is gone" eval '! kill -0 $stray 2>/dev/null'
# What is left (state, table) holds nothing now: an unjailed container clears it and gets out.
tap_check "held: once it is gone, an unjailed container starts there" \
    start_in runc "$g-off2" "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false
tap_check "held: the log says what was left was cleared" log_has_event jail_cleared "$g-off2"
tap_check "held: no table, no state left" eval 'no_nft_table_in "$ns" && state_empty'
probe_exec "$g-off2"
tap_check "held: the unjailed container gets out" got_out
# The reverse order: a jailed container joins where an unjailed one runs (POLICY.md): the
# unjailed one is a bystander; the jail covers it while it stands and goes with the last member.
tap_check "held: a newcomer starts jailed" start_in runc "$g" "$ns" "${JAIL[@]}"
probe_exec "$g"
tap_check "held: the newcomer is served by the jail" served_by_jail
probe_exec "$g-off2"
tap_check "held: while the jail stands, the unjailed bystander is closed too" \
    eval 'probes_done && probe_is "$PROBE_OUT" dns answers A:6.6.6.6 && nothing_out'
runc_cmd delete -f "$g" >/dev/null 2>&1
tap_check "held: the newcomer left: the table goes although the bystander runs" \
    wait_until 5 no_nft_table_in "$ns"
runc_cmd delete -f "$g-off2" >/dev/null 2>&1
assert_gone "held: newcomer left" "$g" "$ns"

# ---- namespaces of its own: an outsider outlives the container ------------------------------
# The runtime made the container's network and pid namespaces: the kernel ends all of its
# processes with its init, so only a process that entered from outside can still hold the
# namespace. Its end does not look through /proc for one: the jail is stopped and its state
# goes, while the table stays in the namespace for as long as the outsider holds it (it is
# never deleted from a namespace the runtime made).
o=$W_ID-own
b=$(world_bundle "$o" "${JAIL[@]}" -- /bin/sleep 300) || tap_bail "cannot make bundle $o"
W_CONTAINERS+=("runc $o")
_run_capture "$o" runc_cmd run -d --bundle "$b" "$o"
tap_check "own namespaces: the container starts jailed" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
opid=$(runc_cmd state "$o" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
nsenter --net="/proc/$opid/ns/net" /bin/sleep 300 &
outsider=$!
world_on_cleanup kill "$outsider"
tap_check "own namespaces: the outsider is in the container's network namespace" \
    wait_until 5 eval '[ "$(stat -L -c %i /proc/$outsider/ns/net)" = "$(stat -L -c %i /proc/$opid/ns/net)" ]'
tap_check "own namespaces: the namespace holds the table" nft_table_in "/proc/$outsider/ns/net"
runc_cmd delete -f "$o" >/dev/null 2>&1
tap_check "own namespaces: the log says the jail stopped (not held)" log_has_event jail_stopped "$o" ||
    tap_diag_file "$W_LOG" 5
tap_check "own namespaces: no state left, none kept for the outsider" state_gone_for "$o" ||
    tap_diag "$(find "$W_STATE/netns" "$W_STATE/containers" -mindepth 1 2>&1 | head -n 5)"
tap_check "own namespaces: the jail's daemons are gone" \
    wait_until 5 eval '[ -z "$(daemons_of "$W_STUB_EXE")$(daemons_of "$PROXY_EXE")" ]'
tap_check "own namespaces: the table stays while the outsider holds the namespace" \
    nft_table_in "/proc/$outsider/ns/net"
kill "$outsider"
wait "$outsider" 2>/dev/null

# ---- an unjailed container joining a jailed namespace --------------------------------------
world_ctns unjailed || tap_bail "cannot make a namespace"
ns=$W_NS
e=$W_ID-un-e
tap_check "unjailed joiner: E starts jailed" start_in runc "$e" "$ns" "${JAIL[@]}"
stub=$(daemons_of "$W_STUB_EXE")
proxy=$(daemons_of "$PROXY_EXE")
# runc passes the hook's stderr on in its own error line; crun does not, so the admin's log
# (jail_refused, whose detail is the same line) is read for both.
names_conflict() { grep 'enable=false' | grep -q 'conflict'; }
refused_with_one_line() { # RUNTIME ID
    [ "$RUN_RC" -ne 0 ] && log_has_event jail_refused "$2" &&
        grep -F "\"$2\"" "$W_LOG" | grep jail_refused | names_conflict &&
        if [ "$1" = runc ]; then
            [ "$(grep -c 'dnsjail: ' "$RUN_ERR")" -eq 1 ] && grep 'dnsjail: ' "$RUN_ERR" | names_conflict
        fi || { tap_diag_file "$RUN_ERR" 5; return 1; }
}
jail_untouched() {
    [ "$(daemons_of "$W_STUB_EXE")" = "$stub" ] && [ "$(daemons_of "$PROXY_EXE")" = "$proxy" ] &&
        nft_table_in "$ns" && [ "$(members_of "$ns")" = "$e " ]
}
for how in annotation default-enable crun; do
    g=$W_ID-un-$how
    case $how in
        annotation) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false) rt=runc ;;
        default-enable) opts=(--hook "$W_HOOK" --hook-config "$OFF_CONF") rt=runc ;;
        crun) opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false) rt=crun ;;
    esac
    b=$(world_bundle "$g" --netns "$ns" "${opts[@]}" -- /bin/sleep 300) || tap_bail "cannot make a bundle"
    W_CONTAINERS+=("$rt $g")
    _run_capture "$g" "${rt}_cmd" run -d --bundle "$b" "$g"
    tap_check "unjailed joiner ($how): refused with one line naming the conflict" \
        refused_with_one_line "$rt" "$g"
    runtime_delete_force "$rt" "$g" >/dev/null 2>&1
    tap_check "unjailed joiner ($how): no record for it" state_clean_for "$g"
    tap_check "unjailed joiner ($how): the same stub and proxy, the table, E the only member" jail_untouched
    probe_exec "$e"
    tap_check "unjailed joiner ($how): E is still served by the jail" served_by_jail
done
# Control: the same unjailed containers start where no jail is, and get out.
world_ctns unjailedctl || tap_bail "cannot make a namespace"
tap_check "unjailed control: enable=false starts in a namespace without a jail" \
    start_in runc "$W_ID-un-ctl" "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=false
tap_check "unjailed control: default-enable=false starts there too" \
    start_in runc "$W_ID-un-ctl2" "$W_NS" --hook "$W_HOOK" --hook-config "$OFF_CONF"
probe_exec "$W_ID-un-ctl"
tap_check "unjailed control: its probes get out" got_out
runc_cmd delete -f "$W_ID-un-ctl" >/dev/null 2>&1
runc_cmd delete -f "$W_ID-un-ctl2" >/dev/null 2>&1
runc_cmd delete -f "$e" >/dev/null 2>&1
assert_gone "unjailed joiner: E left" "$e" "$ns"
tap_done
