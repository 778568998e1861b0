#!/bin/bash
# lifecycle.sh: however a jailed container ends, dnsjail cleans up after it: no dnsjail-dnsstub,
# no state, no namespace reference, and the table leaves a persistent namespace with its last
# container. Covers: normal exit, kill -9 of the init then `runc delete`, `runc delete -f`,
# a start that fails after prestart ran, crun (no pid at poststop), and two containers sharing
# one namespace (same policy shares the stub; a different policy is refused).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

dns_probe() { echo "dns|dns|life-$(world_random).attacker.test|A|-|udp"; }
JAIL_OPTS=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true)

container_pid() { runc_cmd state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
container_status() { runc_cmd state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
is_stopped() { [ "$(container_status "$1")" = stopped ]; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
all_gone() { local p; for p in "$@"; do pid_gone "$p" || return 1; done; }
stub_count() { world_stubs | wc -l; }

# A detached jailed container running sleep; checks that the jail is up.
start_detached() { # LABEL ID NSPATH [bundle.py options]
    local label=$1 id=$2 ns=$3 b
    shift 3
    b=$(world_bundle "$id" --netns "$ns" "${JAIL_OPTS[@]}" "$@" -- /bin/sleep 300) ||
        tap_bail "cannot make bundle $id"
    W_CONTAINERS+=("runc $id")
    _run_capture "$id" runc_cmd run -d --bundle "$b" "$id"
    tap_check "$label: detached container started" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
}

# Resolves through the jail from inside container ID (runc exec).
exec_resolves_sinkhole() { # ID
    local out=$W_TMP/out/$1.exec
    runc_cmd exec "$1" /usr/bin/python3 /probe.py "$(dns_probe)" >"$out" 2>&1
    probe_is "$out" dns answers A:6.6.6.6 || { tap_diag_file "$out" 5; return 1; }
}

# ---- normal exit --------------------------------------------------------------------------
world_ctns normal || tap_bail "cannot make a namespace"
id=$W_ID-normal
b=$(world_bundle "$id" --netns "$W_NS" "${JAIL_OPTS[@]}" -- /usr/bin/python3 /probe.py "$(dns_probe)")
run_runc "$id" "$b"
tap_check "normal exit: container ran jailed" probe_is "$RUN_OUT" dns answers A:6.6.6.6 ||
    { tap_diag "exit $RUN_RC"; tap_diag_file "$RUN_ERR" 5; }
assert_gone "normal exit" "$id" "$W_NS"

# ---- kill -9 of the container's init, then runc delete ------------------------------------
world_ctns kill9 || tap_bail "cannot make a namespace"
id=$W_ID-kill9
start_detached "kill -9" "$id" "$W_NS"
tap_check "kill -9: a stub runs for the container" has_stub_for "$id"
tap_check "kill -9: the daemons' command lines hold descriptors only (settings: --config-fd)" \
    daemon_argv_descriptors_only "$id"
tap_check "kill -9: the table is in the namespace" nft_table_in "$W_NS"
tap_check "kill -9: the jail answers 6.6.6.6 inside" exec_resolves_sinkhole "$id"
stubs=$(world_stubs)
init=$(container_pid "$id")
kill -9 "$init"
tap_check "kill -9: runc sees the container stopped" wait_until 10 is_stopped "$id"
tap_check "kill -9: the stub exits by itself once the init is dead" \
    wait_until 5 all_gone $stubs # one pid a word
_run_capture "$id-delete" runc_cmd delete "$id"
tap_check "kill -9: runc delete succeeds (poststop ran)" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
assert_gone "kill -9" "$id" "$W_NS"

# ---- runc delete -f of a running container ------------------------------------------------
world_ctns delf || tap_bail "cannot make a namespace"
id=$W_ID-delf
start_detached "delete -f" "$id" "$W_NS"
tap_check "delete -f: a stub runs for the container" has_stub_for "$id"
stubs=$(world_stubs)
_run_capture "$id-delete" runc_cmd delete -f "$id"
tap_check "delete -f: runc delete -f succeeds" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "delete -f: the stub process is gone" \
    wait_until 5 all_gone $stubs # one pid a word
assert_gone "delete -f" "$id" "$W_NS"

# ---- a start that fails after prestart ran ------------------------------------------------
world_ctns failstart || tap_bail "cannot make a namespace"
id=$W_ID-failstart
b=$(world_bundle "$id" --netns "$W_NS" "${JAIL_OPTS[@]}" -- /nonexistent/command)
run_runc "$id" "$b"
tap_check "failed start: runc fails" test "$RUN_RC" -ne 0
tap_check "failed start: because of the command, not of dnsjail" \
    eval 'grep -q nonexistent "$RUN_ERR" && ! grep -q "dnsjail: " "$RUN_ERR"' || tap_diag_file "$RUN_ERR" 5
runc_cmd delete -f "$id" >/dev/null 2>&1
assert_gone "failed start" "$id" "$W_NS"

# ---- crun: the state at poststop has no pid -----------------------------------------------
world_ctns crun || tap_bail "cannot make a namespace"
id=$W_ID-crun
b=$(world_bundle "$id" --netns "$W_NS" "${JAIL_OPTS[@]}" -- /usr/bin/python3 /probe.py "$(dns_probe)")
run_crun "$id" "$b"
tap_check "crun: container ran jailed" probe_is "$RUN_OUT" dns answers A:6.6.6.6 ||
    { tap_diag "exit $RUN_RC"; tap_diag_file "$RUN_ERR" 5; }
assert_gone "crun" "$id" "$W_NS"

# ---- two containers in one namespace ------------------------------------------------------
world_ctns shared || tap_bail "cannot make a namespace"
SHARED=$W_NS
a=$W_ID-shared-a
b2=$W_ID-shared-b
c=$W_ID-shared-c
start_detached "shared A" "$a" "$SHARED" --annotation io.dnsjail.allow=example.com
start_detached "shared B, same policy" "$b2" "$SHARED" --annotation io.dnsjail.allow=example.com
tap_check "shared: one stub serves both" test "$(stub_count)" -eq 1 || tap_diag "stubs: $(world_stubs)"
stub=$(world_stubs)
tap_check "shared: B resolves through the jail" exec_resolves_sinkhole "$b2"
bundle=$(world_bundle "$c" --netns "$SHARED" "${JAIL_OPTS[@]}" --annotation io.dnsjail.allow=example.org \
    -- /bin/sleep 300)
W_CONTAINERS+=("runc $c")
_run_capture "$c" runc_cmd run -d --bundle "$bundle" "$c"
tap_check "shared C, another policy: refused" test "$RUN_RC" -ne 0
tap_check "shared C: runc's stderr has 'dnsjail:' and 'conflict'" \
    eval 'grep -q "dnsjail: " "$RUN_ERR" && grep -qi conflict "$RUN_ERR"' || tap_diag_file "$RUN_ERR" 5
runc_cmd delete -f "$c" >/dev/null 2>&1
tap_check "shared C: no state for the refused container" state_clean_for "$c"
tap_check "shared: after C's refusal, the same stub still runs" test "$(world_stubs)" = "$stub"
tap_check "shared: after C's refusal, the table is still there" nft_table_in "$SHARED"
tap_check "shared: after C's refusal, B still resolves through the jail" exec_resolves_sinkhole "$b2"
_run_capture "$a-delete" runc_cmd delete -f "$a"
tap_check "shared: A deleted" test "$RUN_RC" -eq 0
tap_check "shared: A's record is gone" state_clean_for "$a"
tap_check "shared: with B left, the table stays" nft_table_in "$SHARED"
tap_check "shared: with B left, the stub stays" test "$(world_stubs)" = "$stub"
tap_check "shared: with B left, B still resolves through the jail" exec_resolves_sinkhole "$b2"
_run_capture "$b2-delete" runc_cmd delete -f "$b2"
tap_check "shared: B deleted" test "$RUN_RC" -eq 0
assert_gone "shared, last one out" "$b2" "$SHARED"
tap_check "shared: no dnsjail daemon of this run left" wait_until 5 no_daemons_at_all

tap_done
