#!/bin/bash
# pod.sh: pod semantics as CRI-O produces them. CRI-O pins a pod's network namespace, starts an
# infra ("sandbox") container in it without the hook, then runs the hook for each container of
# the pod, all with the pod's annotations and the namespace by path. Here: several runc (and one
# crun) containers join one pinned namespace and stop in two orders end to end: first in first
# out with the sandbox last, last in first out with the sandbox first. Always one table, one
# stub and one proxy for the namespace while any member lives; each member is jailed from its
# first instruction; the jail goes with the last member, whatever the sandbox does. Every other
# join, leave and crash order of a namespace's members is covered by tests/unit/test-state.c,
# on the records the hook keeps (they decide which stop is the last).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

POD_ANNOTATIONS=(--annotation io.dnsjail.enable=true --annotation io.dnsjail.allow=example.com)
PROXY_EXE=$(dirname "$W_STUB_EXE")/dnsjail-proxy

one_jail() { # one stub, one proxy, and the table in NS
    [ "$(daemons_of "$W_STUB_EXE" | wc -l)" -eq 1 ] &&
        [ "$(daemons_of "$PROXY_EXE" | wc -l)" -eq 1 ] && nft_table_in "$1"
}
no_jail() { # no daemons of this run, no table in NS, no state
    no_daemons_at_all && no_nft_table_in "$1" && state_empty
}

# The member's first instruction asks DNS; its answer shows whether it started jailed.
start_member() { # RUNTIME ID NSPATH
    local rt=$1 id=$2 ns=$3 b
    b=$(world_bundle "$id" --netns "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
        "${POD_ANNOTATIONS[@]}" -- /bin/sh -c \
        "/usr/bin/python3 /probe.py 'dns|dns|pod-$(world_random).attacker.test|A|-|udp'; exec sleep 300") ||
        return 1
    W_CONTAINERS+=("$rt $id")
    _run_capture "$id" "${rt}_cmd" run -d --bundle "$b" "$id"
    [ "$RUN_RC" -eq 0 ] || { tap_diag_file "$RUN_ERR" 5; return 1; }
    wait_until 5 probe_is "$RUN_OUT" dns answers A:6.6.6.6 || { tap_diag_file "$RUN_OUT" 5; return 1; }
}
stop_member() { # RUNTIME ID
    "${1}_cmd" delete -f "$2" >/dev/null 2>&1
}

# The sandbox: the pod's infra container, no hook (CRI-O runs none for it), keeps the namespace.
start_sandbox() { # ID NSPATH
    local b
    b=$(world_bundle "$1" --netns "$2" -- /bin/sleep 600) || return 1
    W_CONTAINERS+=("runc $1")
    _run_capture "$1" runc_cmd run -d --bundle "$b" "$1"
    [ "$RUN_RC" -eq 0 ]
}

# Positive control: without the hook the same first instruction gets the canary's answer, so
# "starts jailed" below can fail.
world_ctns podctl || tap_bail "cannot make a namespace"
b=$(world_bundle "$W_ID-ctl" --netns "$W_NS" -- /usr/bin/python3 /probe.py \
    "dns|dns|pod-$(world_random).attacker.test|A|-|udp") || tap_bail "cannot make a bundle"
run_runc "$W_ID-ctl" "$b"
tap_check "control: without the hook the member's query reaches the canary (203.0.113.7)" \
    probe_is "$RUN_OUT" dns answers A:203.0.113.7 || tap_diag_file "$RUN_OUT" 5

# ORDER: the members' stop order; SANDBOX: whether the infra container stops first or last.
for pod in "1 a-b-c last" "2 c-b-a first"; do
    read -r n order sandbox <<<"$pod"
    world_ctns "pod$n" || tap_bail "cannot make a namespace"
    ns=$W_NS
    tap_check "pod $n: the sandbox (no hook) runs in the pinned namespace" start_sandbox "$W_ID-p$n-pause" "$ns"
    tap_check "pod $n: no jail before the first member" no_jail "$ns"
    for m in a b c; do
        tap_check "pod $n: member $m starts jailed" start_member runc "$W_ID-p$n-$m" "$ns"
        tap_check "pod $n: after $m started, one table, one stub, one proxy" one_jail "$ns"
    done
    if [ "$sandbox" = first ]; then
        stop_member runc "$W_ID-p$n-pause"
        tap_check "pod $n: the sandbox stopped first, the members keep one jail" one_jail "$ns"
    fi
    left=3
    for m in ${order//-/ }; do
        stop_member runc "$W_ID-p$n-$m"
        left=$((left - 1))
        tap_check "pod $n: $m stopped" state_clean_for "$W_ID-p$n-$m"
        if [ $left -gt 0 ]; then
            tap_check "pod $n: $left left after $m, still one jail" one_jail "$ns"
        else
            tap_check "pod $n: last member $m gone, the jail is gone" wait_until 5 no_jail "$ns"
        fi
    done
    if [ "$sandbox" = last ]; then
        tap_check "pod $n: the sandbox still runs" \
            eval 'runc_cmd state "$W_ID-p$n-pause" | grep -q "\"running\""'
    fi
    # A member that comes after the jail went gets a new jail, never an unjailed start.
    tap_check "pod $n: a member started after the last one left is jailed again" \
        start_member runc "$W_ID-p$n-late" "$ns"
    tap_check "pod $n: and has one jail" one_jail "$ns"
    stop_member runc "$W_ID-p$n-late"
    tap_check "pod $n: the late member's jail is gone with it" wait_until 5 no_jail "$ns"
    [ "$sandbox" = last ] && stop_member runc "$W_ID-p$n-pause"
done

# Members run by different runtimes share the one jail of their namespace.
world_ctns podmix || tap_bail "cannot make a namespace"
ns=$W_NS
tap_check "mixed pod: runc member starts jailed" start_member runc "$W_ID-mix-r" "$ns"
tap_check "mixed pod: crun member starts jailed" start_member crun "$W_ID-mix-c" "$ns"
tap_check "mixed pod: one jail" one_jail "$ns"
stop_member runc "$W_ID-mix-r"
tap_check "mixed pod: crun member left, still one jail" one_jail "$ns"
stop_member crun "$W_ID-mix-c"
tap_check "mixed pod: all gone" wait_until 5 no_jail "$ns"
tap_done
