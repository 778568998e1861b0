#!/bin/bash
# refusals.sh: containers the hook cannot jail must not start, the runtime must show our one-line
# reason, and nothing of ours may stay behind (no stub, no state, no nftables table).
# Cases: malformed or unknown io.dnsjail.* annotations, no network namespace of its own,
# CAP_NET_RAW / CAP_NET_ADMIN in any capability set, an allow list past the limit the daemons
# hold, a daemon user /etc/passwd does not name, and a container init that is already gone.
# Runs through runc; the podman refusal case is in podman.sh (it needs the installed hooks.d).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_ctns refusals || tap_bail "cannot make a namespace"
NS=$W_NS

# The container would run the probe: if it ran at all, its output says so.
PROBE_ARGS=(/usr/bin/python3 /probe.py "dns|dns_resolv|refused-$(world_random).attacker.test|A|-|udp")

# stderr has "dnsjail:" and the reason (a fixed string, matched case-insensitively).
stderr_names() { grep -q 'dnsjail: ' "$RUN_ERR" && grep -qiF -- "$1" "$RUN_ERR"; }

# CASE: short name; KEYWORD: the reason the message must name; then bundle.py options.
refusal_case() { # CASE KEYWORD [bundle.py options]
    local name=$1 keyword=$2 id=$W_ID-r-$1 b
    shift 2
    b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" "$@" -- \
        "${PROBE_ARGS[@]}") ||
        tap_bail "cannot make bundle $id"
    run_runc "$id" "$b"
    tap_check "$name: runc fails" test "$RUN_RC" -ne 0
    tap_check "$name: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
    tap_check "$name: runc's stderr has 'dnsjail:' and names '$keyword'" stderr_names "$keyword" ||
        tap_diag_file "$RUN_ERR" 5
    tap_check "$name: the refusal is in the log (jail_refused)" log_has_event jail_refused "$id"
    assert_gone "$name" "$id" "$NS"
}

refusal_case enable-yes "io.dnsjail.enable" --annotation io.dnsjail.enable=yes
refusal_case mode-unknown "learn" --annotation io.dnsjail.enable=true --annotation io.dnsjail.mode=learn
refusal_case allow-malformed "foo..bar" --annotation 'io.dnsjail.allow=foo..bar'
refusal_case unknown-key "io.dnsjail.alow" --annotation io.dnsjail.alow=example.com
refusal_case cap-net-raw-bounding "CAP_NET_RAW" --add-cap CAP_NET_RAW:bounding
refusal_case cap-net-admin-inheritable "CAP_NET_ADMIN" --add-cap CAP_NET_ADMIN:inheritable
refusal_case cap-net-admin-all "CAP_NET_ADMIN" --add-cap CAP_NET_ADMIN:bounding \
    --add-cap CAP_NET_ADMIN:permitted --add-cap CAP_NET_ADMIN:effective

# No "network" namespace entry: the container would share the runtime's namespace (here the
# test's host namespace, so a wrong table could not touch the real host).
refusal_case host-netns "namespace" --no-netns
tap_check "host-netns: no table in the runtime's namespace" no_nft_table_in "$W_HOSTNS_PATH"

# The admin may allow CAP_NET_RAW: then the same container is jailed and runs. This kernel has
# AF_XDP sockets, so that takes allow-af-xdp too (without it: tests/e2e/netraw.sh).
CONF_DEFAULT=$W_CONF
world_dnsjail_conf --file "$W_TMP/allow-raw.conf" "allow-cap-net-raw = true" "allow-af-xdp = true"
id=$W_ID-r-allowed-raw
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --add-cap CAP_NET_RAW:bounding -- \
    "${PROBE_ARGS[@]}") || tap_bail "cannot make bundle"
run_runc "$id" "$b"
tap_check "allow-cap-net-raw = true: the container runs" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "allow-cap-net-raw = true: and is jailed (6.6.6.6)" \
    probe_is "$RUN_OUT" dns_resolv answers A:6.6.6.6
assert_gone "allow-cap-net-raw" "$id" "$NS"
W_CONF=$CONF_DEFAULT

# A daemon user that /etc/passwd does not name (and that is not a number) is refused with the
# reason, not guessed: the hook reads /etc/passwd itself (lib/base/passwd.h). A static hook
# that asked NSS instead would die of SIGSEGV here on Debian 12 (libnss_systemd loaded into a
# static process), and runc's stderr would have no "dnsjail:" line. The positive control is
# every jailed container of this suite, which runs as "nobody" found the same way.
NO_USER=djnouser$$
world_dnsjail_conf --file "$W_TMP/no-user.conf" "user = $NO_USER"
id=$W_ID-r-unknown-user
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" -- \
    "${PROBE_ARGS[@]}") || tap_bail "cannot make bundle $id"
run_runc "$id" "$b"
tap_check "unknown-user: runc fails" test "$RUN_RC" -ne 0
tap_check "unknown-user: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
tap_check "unknown-user: runc's stderr has 'dnsjail:' and the hook's reason" \
    stderr_names "no such user '$NO_USER' in /etc/passwd" || tap_diag_file "$RUN_ERR" 5
assert_gone "unknown-user" "$id" "$NS"
W_CONF=$CONF_DEFAULT

# The admin's ceiling: an annotation may narrow annotation-allow-within, not widen it.
world_dnsjail_conf --file "$W_TMP/ceiling.conf" "annotation-allow-within = *.example.test"
refusal_case allow-above-ceiling "wider than the administrator allows" \
    --annotation 'io.dnsjail.allow=api.example.test, attacker.test'
id=$W_ID-r-within-ceiling
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation 'io.dnsjail.allow=api.example.test' -- "${PROBE_ARGS[@]}") ||
    tap_bail "cannot make bundle"
run_runc "$id" "$b"
tap_check "annotation within the ceiling: the container runs" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
assert_gone "within the ceiling" "$id" "$NS"
W_CONF=$CONF_DEFAULT

# One limit, checked once (issue 10, item 7). The daemons hold each rule without a port twice
# (ports 80 and 443), the admin's allow included: 2047 names and the admin's one make 4096, the
# documented maximum. That container starts, and the admin's host works through the proxy (its
# token reaches the canary); one name more is refused by the hook, the limit named.
many_names() { # N: N distinct names without a port
    local i out=""
    for ((i = 0; i < $1; i++)); do out+="h$i.limit.example.test,"; done
    echo "${out%,}"
}
world_dnsjail_conf --file "$W_TMP/limit.conf" "allow = admin-allowed.example.test"
token=limit-$(world_random)
id=$W_ID-r-at-limit
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation "io.dnsjail.allow=$(many_names 2047)" -- \
    /usr/bin/curl -sS --max-time 10 -o /dev/null -w 'limit-http=%{http_code}\n' \
    "http://admin-allowed.example.test/$token") || tap_bail "cannot make bundle"
run_runc "$id" "$b"
tap_check "at the limit (2047 names + the admin's 1 = 4096 rules): the container runs" \
    test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "at the limit: the proxy started (jail_started in the log)" log_has_event jail_started "$id"
tap_check "at the limit: the admin's allowed host answered through the proxy" \
    grep -q '^limit-http=200' "$RUN_OUT" || tap_diag_file "$RUN_OUT" 5
tap_check "at the limit: its token reached the site (the canary)" wait_until 10 canary_saw_net "$token"
assert_gone "at the limit" "$id" "$NS"
refusal_case over-limit "the limit is 4096 rules per jail" \
    --annotation "io.dnsjail.allow=$(many_names 2048)"
tap_check "over the limit: the message counts what the daemons would hold (4098)" \
    grep -qF "come to 4098 rules, counting a rule without a port twice" "$RUN_ERR"
W_CONF=$CONF_DEFAULT

# The hook called directly, as a runtime would: exactly one line on stderr, "dnsjail: ...".
# A process in the namespace stands in for the container's init.
hook_direct() { # ID PID BUNDLE
    RUN_ERR=$W_TMP/out/$1.direct.err
    printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%d,"bundle":"%s"}' \
        "$1" "$2" "$3" | nsenter --net="$W_HOSTNS_PATH" timeout 20 "$W_HOOK" --config "$W_CONF" \
        prestart >/dev/null 2>"$RUN_ERR"
    RUN_RC=$?
}
one_dnsjail_line() { [ "$(wc -l <"$RUN_ERR")" -eq 1 ] && grep -q '^dnsjail: ' "$RUN_ERR"; }

id=$W_ID-r-direct-mode
b=$(world_bundle "$id" --netns "$NS" --annotation io.dnsjail.mode=learn -- /bin/true)
nsenter --net="$NS" sleep 60 &
stand_in=$!
hook_direct "$id" "$stand_in" "$b"
kill "$stand_in"
wait "$stand_in" 2>/dev/null
tap_check "direct, mode=learn: the hook exits non-zero" test "$RUN_RC" -ne 0
tap_check "direct, mode=learn: stderr is one line starting 'dnsjail: '" one_dnsjail_line ||
    tap_diag_file "$RUN_ERR" 5
assert_gone "direct, mode=learn" "$id" "$NS"

# The container's init is gone by the time the hook runs (pid of a reaped process).
id=$W_ID-r-pid-gone
b=$(world_bundle "$id" --netns "$NS" -- /bin/true)
nsenter --net="$NS" true &
gone=$!
wait "$gone"
hook_direct "$id" "$gone" "$b"
tap_check "pid gone: the hook exits non-zero" test "$RUN_RC" -ne 0
tap_check "pid gone: stderr is one line starting 'dnsjail: '" one_dnsjail_line || tap_diag_file "$RUN_ERR" 5
tap_check "pid gone: the message is about the process" grep -qiE 'pid|process' "$RUN_ERR"
assert_gone "pid gone" "$id" "$NS"
tap_check "nothing of this run's dnsjail daemons is left" no_daemons_at_all

tap_done
