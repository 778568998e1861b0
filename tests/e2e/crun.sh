#!/bin/bash
# crun.sh: the jail seen from inside a container run by crun (cgroup manager disabled, so at
# poststop the state has no pid) with the build tree's hook.
# A positive control (no hook) first proves the test world can see every kind of leak; then
# the same probes from a jailed container must all be answered by the stub or refused, with
# nothing reaching the canary; io.dnsjail.enable=false must leave the container alone.
# No dnsjail process holds any of the runtime's pipes or sockets while a jailed container runs.
# Five jailed runs in one persistent namespace each end well within crun's 10 s hook timeout.
# The spare pool: `crun run` in the foreground waits for every process its hook leaves behind,
# so the hook makes no pool there (and says so); `crun run --detach` does not wait, so it
# makes one, the next detached container is served by it, and foreground runs then use it
# (an assigned spare's successor is not crun's) without crun waiting for anything.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

world_battery_control crun
world_battery_jailed crun
world_battery_disabled crun
tap_check "crun run in the foreground: the hook made no spare pool, and said why" \
    eval 'log_has_event spares_unavailable "$W_ID-crun-jailed" && [ -z "$(world_spares)" ]'
world_battery_pipes crun

# ---- the spare pool under crun run --detach ----------------------------------------------
start_detached() { # ID
    local b
    world_ctns "${1#"$W_ID"-}" || tap_bail "cannot make a namespace"
    b=$(world_bundle "$1" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --annotation io.dnsjail.enable=true -- /bin/sleep 300) || tap_bail "cannot make a bundle"
    W_CONTAINERS+=("crun $1")
    _run_capture "$1" crun_cmd run --detach --bundle "$b" "$1"
}
pool_ready() { [ -n "$(world_spares dnsjail-dnsstub)" ] && [ -n "$(world_spares dnsjail-proxy)" ]; }
first=$W_ID-crun-det1
start_detached "$first"
tap_check "crun run --detach: the first jailed container started" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
tap_check "crun run --detach: its hook made the spare pool" \
    eval 'log_has_event spares_started "$first" && wait_until 10 pool_ready' || tap_diag_file "$W_LOG" 10
spares=$(world_spares | tr '\n' ' ')
second=$W_ID-crun-det2
start_detached "$second"
tap_check "crun run --detach: the second jailed container started" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
tap_check "crun run --detach: the second is served by the pool's spares (their children)" \
    eval 'log_has_event spares_assigned "$second" && [ -n "$(daemons_for "$second")" ] &&
        [ -z "$(comm -23 <(world_ppids $(daemons_for "$second") | sort) <(tr " " "\n" <<<"$spares" | sort))" ]' ||
    tap_diag "spares before: $spares; the second's daemons: $(daemons_for "$second" | tr '\n' ' ')
$(grep -F "$second" "$W_LOG" | grep -v dns_query)"
tap_check "crun run --detach: the pool is back" wait_until 10 pool_ready
crun_cmd delete -f "$first" >/dev/null 2>&1
crun_cmd delete -f "$second" >/dev/null 2>&1
assert_gone "crun run --detach, both deleted" "$first"
tap_check "crun run --detach, both deleted: no daemon left for the second" \
    wait_until 5 no_daemon_for "$second"

# Foreground runs with a pool there: they take spares, and still end within 8 s each.
world_battery_persistent_rounds crun 5
tap_check "crun run in the foreground with a pool: a spare served it" \
    log_has_event spares_assigned "$W_ID-crun-pers1" ||
    tap_diag "$(grep -F "$W_ID-crun-pers1" "$W_LOG" | grep -v dns_query)"
tap_done
