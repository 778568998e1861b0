#!/bin/bash
# spares.sh: the spare pool (lib/daemon/spare.h, docs/DESIGN.md "The spare pool"). The first
# jailed container finds no pool, gets spawned daemons, says so, and leaves a pool behind; the
# next is served by the pool's spares (their pids become its daemons, and new spares wait);
# a spare killed before its assignment, the pool's sockets removed, or a stale pool (the
# daemon's file replaced, as an upgrade does) make the hook fall back to spawning, say so, and
# make the pool anew; a state directory an older hook made 0700 is made searchable again by
# the refill; a jail whose daemons are killed after the assignment fails closed; fifty
# containers started at once are all jailed, each by daemons of its own. The suite's own state
# directory holds the pool, and its end stops it.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

JAIL_OPTS=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true)
dns_probe() { echo "dns|dns|$1.attacker.test|A|-|udp"; }

# A detached jailed container in a fresh namespace of its own, running sleep.
start_detached() { # ID [bundle.py options]
    local id=$1 b
    shift
    world_ctns "${id#"$W_ID"-}" || return 1
    b=$(world_bundle "$id" --netns "$W_NS" "${JAIL_OPTS[@]}" "$@" -- /bin/sleep 300) || return 1
    W_CONTAINERS+=("runc $id")
    _run_capture "$id" runc_cmd run -d --bundle "$b" "$id"
    [ "$RUN_RC" -eq 0 ] || { tap_diag_file "$RUN_ERR" 5; return 1; }
}
stop_container() { runc_cmd delete -f "$1" >/dev/null 2>&1; }
# The probe from inside container ID; its result line in $W_TMP/out/ID.exec.
exec_probe() { # ID NAME
    runc_cmd exec "$1" /usr/bin/python3 /probe.py "$(dns_probe "$2")" >"$W_TMP/out/$1.exec" 2>&1
}
resolves_sinkhole() { # ID NAME
    exec_probe "$1" "$2"
    probe_is "$W_TMP/out/$1.exec" dns answers A:6.6.6.6 || { tap_diag_file "$W_TMP/out/$1.exec" 5; return 1; }
}
pool_ready() { [ -n "$(world_spares dnsjail-dnsstub)" ] && [ -n "$(world_spares dnsjail-proxy)" ]; }
# Every pid of the first list is in the second.
all_in() { # "PIDS" "PIDS"
    local p
    for p in $1; do grep -qxF "$p" <<<"$(tr ' ' '\n' <<<"$2")" || return 1; done
}
gone() { local p; for p in "$@"; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
event_detail() { # EVENT ID: the detail of the hook's EVENT line for container ID
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    try: d = json.loads(l)
    except ValueError: continue
    if d.get("event") == sys.argv[2] and d.get("container") == sys.argv[3]: print(d.get("detail", ""))' \
        "$W_LOG" "$1" "$2"
}

# A container that finds no usable spare: jailed by spawned daemons, the hook says why (a
# reason matching PATTERN), and the pool is back for the next one.
fallback_case() { # LABEL NAME PATTERN
    local label=$1 id=$W_ID-$2 pattern=$3
    start_detached "$id" || tap_bail "cannot start $id"
    cid=$RUN_CID
    tap_check "$label: the container is still jailed" resolves_sinkhole "$id" "$2-$W_ID"
    tap_check "$label: the hook says it fell back, and why" \
        eval 'event_detail spare_unavailable "$cid" | grep -q -- "$pattern"' || tap_diag_file "$W_LOG" 10
    tap_check "$label: the pool is back" wait_until 10 pool_ready
    stop_container "$id"
}

# ---- the first container: no pool yet --------------------------------------------------------
id=$W_ID-first
start_detached "$id" || tap_bail "cannot start $id"
tap_check "no pool yet: the container is jailed by spawned daemons" resolves_sinkhole "$id" first-$W_ID
tap_check "no pool yet: the hook says why no spare served it" \
    eval '[ -n "$(event_detail spare_unavailable "$RUN_CID")" ]' || tap_diag_file "$W_LOG" 10
tap_check "no pool yet: the hook made a pool (one idle spare of each kind)" wait_until 10 pool_ready
ps_spares() { "$top_builddir/cli/dnsjail" --config "$W_CONF" ps | awk '$3 == "idle" { print $1 }' | sort; }
tap_check "dnsjail ps lists the idle spares" \
    eval '[ -n "$(ps_spares)" ] && [ "$(ps_spares)" = "$(world_spares | sort)" ]' ||
    tap_diag "$("$top_builddir/cli/dnsjail" --config "$W_CONF" ps 2>&1)"
tap_check "the pool is under the suite's own state directory" \
    eval '[ -S "$W_STATE/spares/dnsjail-dnsstub.sock" ] && [ -S "$W_STATE/spares/dnsjail-proxy.sock" ]'
stop_container "$id"
tap_check "first container gone: its daemons are gone" wait_until 10 no_daemon_for "$RUN_CID"

# ---- served by a spare -------------------------------------------------------------------------
idle=$(world_spares | tr '\n' ' ')
id=$W_ID-second
start_detached "$id" || tap_bail "cannot start $id"
cid=$RUN_CID
tap_check "with a pool: the hook says the spares were assigned" log_has_event spares_assigned "$cid" ||
    tap_diag_file "$W_LOG" 10
tap_check "with a pool: no spare_unavailable for it" eval '[ -z "$(event_detail spare_unavailable "$cid")" ]'
tap_check "with a pool: its two daemons are children of the spares that waited, not them" \
    eval 'd=$(daemons_for "$cid" | tr "\n" " "); [ "$(wc -w <<<"$d")" = 2 ] &&
        ! grep -qwF -f <(tr " " "\n" <<<"$idle" | grep .) <<<"$d" &&
        all_in "$(world_ppids $d | tr "\n" " ")" "$idle"' ||
    tap_diag "idle before: $idle; daemons now: $(daemons_for "$cid" | tr '\n' ' ')"
tap_check "with a pool: the assigned daemons' command lines name the container, descriptors only" \
    daemon_argv_descriptors_only "$cid"
tap_check "with a pool: the container is jailed" resolves_sinkhole "$id" second-$W_ID
tap_check "with a pool: the same spares wait again (none of them serves a jail)" \
    eval 'pool_ready && [ "$(world_spares | sort | tr "\n" " ")" = "$(tr " " "\n" <<<"$idle" | grep . | sort | tr "\n" " ")" ]'
stop_container "$id"
tap_check "second container gone: its daemons are gone, the spares stay" \
    wait_until 10 eval 'no_daemon_for "$cid" && pool_ready'

# ---- a spare killed before its assignment ----------------------------------------------------
killed=$(world_spares dnsjail-dnsstub)
tap_check "spare killed: there was one" test -n "$killed"
# shellcheck disable=SC2086
kill -9 $killed
# shellcheck disable=SC2086
tap_check "spare killed: it is gone" wait_until 10 gone $killed
fallback_case "spare killed before assignment" killed-before "dnsstub: connect .*refused"
id=$W_ID-after-refill
start_detached "$id" || tap_bail "cannot start $id"
tap_check "the container after the refill is served by spares" log_has_event spares_assigned "$RUN_CID"
stop_container "$id"

# ---- a jail's daemons killed after the assignment: fails closed --------------------------------
id=$W_ID-killed-after
start_detached "$id" || tap_bail "cannot start $id"
cid=$RUN_CID
tap_check "killed after assignment: served by spares" log_has_event spares_assigned "$cid"
served=$(daemons_for "$cid")
# shellcheck disable=SC2086
kill -9 $served
tap_check "killed after assignment: its daemons are gone" wait_until 10 gone $served
tag=ka-$(world_random)
exec_probe "$id" "$tag"
tap_check "killed after assignment: the query gets no answer" \
    probe_isnt "$W_TMP/out/$id.exec" dns answers A:203.0.113.7 || tap_diag_file "$W_TMP/out/$id.exec" 5
tap_check "killed after assignment: the canary resolver never saw the name" canary_none_dns "$tag"
world_ctns control || tap_bail "cannot make a namespace"
b=$(world_bundle "$W_ID-control" --netns "$W_NS" --annotation io.dnsjail.enable=false --hook "$W_HOOK" \
    --hook-config "$W_CONF" -- /usr/bin/python3 /probe.py "$(dns_probe "ctl-$tag")")
run_runc "$W_ID-control" "$b"
tap_check "positive control (enable=false): the canary answered" \
    probe_is "$RUN_OUT" dns answers A:203.0.113.7 || _show_run
tap_check "positive control: the canary saw the name" canary_saw_dns "ctl-$tag"
stop_container "$id"

# ---- the pool's sockets removed ----------------------------------------------------------------
old=$(world_spares)
rm -f "$W_STATE"/spares/*.sock
fallback_case "pool socket gone" no-socket "No such file"
# shellcheck disable=SC2086
tap_check "pool socket gone: the unreachable spares exit by themselves" wait_until 20 gone $old

# ---- a stale pool: the daemons' files replaced, as a package upgrade does ----------------------
old=$(world_spares)
install -m 755 "$top_builddir/dnsstub/dnsjail-dnsstub" "$W_TMP/libexec/dnsjail-dnsstub.new" &&
    mv -f "$W_TMP/libexec/dnsjail-dnsstub.new" "$W_TMP/libexec/dnsjail-dnsstub"
install -m 755 "$top_builddir/proxy/dnsjail-proxy" "$W_TMP/libexec/dnsjail-proxy.new" &&
    mv -f "$W_TMP/libexec/dnsjail-proxy.new" "$W_TMP/libexec/dnsjail-proxy"
fallback_case "stale pool (the program files replaced)" stale "the spare runs another dnsjail-dnsstub"
# shellcheck disable=SC2086
tap_check "stale pool: the stale spares were retired" wait_until 10 gone $old
tap_check "everything so far gone: no daemon left but the idle spares" \
    wait_until 10 eval 'no_daemons_at_all && pool_ready'

# ---- a state directory an older hook made 0700 ---------------------------------------------
# The spares' user cannot reach a pool below it: idle spares find their socket gone (they look
# every 5 s) and exit, so that every jail would spawn its daemons. The next hook's refill makes
# the directory searchable again (0711), and the pool serves from then on.
chmod 700 "$W_STATE"
tap_check "state dir 0700: the idle spares lose their pool and exit" \
    wait_until 20 eval '[ -z "$(world_spares)" ]'
fallback_case "state dir 0700" closed-state "connect .*refused"
tap_check "state dir 0700: the refill made it searchable again (0711)" \
    test "$(stat -c %a "$W_STATE")" = 711
id=$W_ID-after-closed
start_detached "$id" || tap_bail "cannot start $id"
tap_check "state dir 0700: the next container is served by the pool's spares" \
    log_has_event spares_assigned "$RUN_CID" || tap_diag_file "$W_LOG" 10
stop_container "$id"
tap_check "state dir 0700: nothing left but the idle spares" \
    wait_until 10 eval 'no_daemons_at_all && pool_ready'

# ---- fifty at once ---------------------------------------------------------------------------
ids=()
for i in $(seq 1 50); do ids+=("$W_ID-burst-$i"); done
# The namespaces first (one by one: they share the fake internet's bridge), then the
# containers all at once.
nss=()
for id in "${ids[@]}"; do
    world_ctns "${id#"$W_ID"-}" || tap_bail "cannot make a namespace for $id"
    nss+=("$W_NS")
done
pids=()
for i in "${!ids[@]}"; do
    b=$(world_bundle "${ids[$i]}" --netns "${nss[$i]}" "${JAIL_OPTS[@]}" -- /bin/sleep 300) ||
        tap_bail "cannot make bundle ${ids[$i]}"
    runc_cmd run -d --bundle "$b" "${ids[$i]}" </dev/null >/dev/null 2>"$W_TMP/out/${ids[$i]}.err" &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
for id in "${ids[@]}"; do W_CONTAINERS+=("runc $id"); done
tap_check "burst: all 50 containers started" test "$failed" -eq 0
# One pass over the daemons: "PID CONTAINER-ID" for each (daemons_for per container would
# read every daemon's command line fifty times).
daemon_jails() {
    local p
    for p in $(world_daemons); do
        printf '%s %s\n' "$p" "$(tr '\0' '\n' <"/proc/$p/cmdline" |
            awk 'prev == "--container-id" { print; exit } { prev = $0 }')"
    done
}
all_jailed() {
    daemon_jails >"$W_TMP/burst.jails"
    local id n
    for id in "${ids[@]}"; do
        n=$(awk -v id="$id" '$2 == id' "$W_TMP/burst.jails" | wc -l)
        [ "$n" = 2 ] || { tap_diag "$id has $n daemons"; return 1; }
    done
}
tap_check "burst: every container has its own stub and proxy" all_jailed
# The jails' pid files (what dnsjail ps reads): a hundred daemons, no pid in two jails.
tap_check "burst: no daemon serves two jails (100 distinct pids in the jails' records)" \
    eval '[ "$(cat "$W_STATE"/netns/*/dnsstub.pid "$W_STATE"/netns/*/proxy.pid | sort -u | wc -l)" = 100 ]'
tap_check "burst: no spare was among them" \
    eval '! grep -qxFf <(world_spares) <(cat "$W_STATE"/netns/*/*.pid)'
tap_check "burst: the log has jail_started for each" \
    eval 'for id in "${ids[@]}"; do log_has_event jail_started "$id" || exit 1; done'
tap_check "burst: the first and last are jailed" \
    eval 'resolves_sinkhole "${ids[0]}" b0-$W_ID && resolves_sinkhole "${ids[49]}" b49-$W_ID'
pids=()
for id in "${ids[@]}"; do
    stop_container "$id" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
tap_check "after everything: no daemon left but the idle spares" \
    wait_until 30 eval 'no_daemons_at_all && pool_ready'
spares=$(world_spares)
world_stop_spares
# shellcheck disable=SC2086
tap_check "the suite's end stops its spares" wait_until 10 gone $spares
tap_done
