#!/bin/bash
# foreign-sockets.sh: servers that a process outside the container holds inside its network
# namespace (as dockerd holds its embedded DNS on 127.0.0.11) must not answer a jailed
# container: the hook finds them at prestart (sock_diag), names the holder in its log and closes
# them off in the table (foreign-sockets = block), or refuses the container (refuse), or leaves
# one open that allow-foreign-socket names. The servers here relay whatever they get to the
# canary: a token at the canary is a leak. Sockets of pod members and of the jail's own daemons
# are not foreign. Runs through runc.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig ss
world_require_build
world_up
# world_dnsjail_conf points W_CONF at the file it writes: the default configuration comes last.
world_dnsjail_conf --file "$W_TMP/refuse.conf" "foreign-sockets = refuse" ||
    tap_bail "cannot write the dnsjail configuration"
REFUSE_CONF=$W_CONF
world_dnsjail_conf --file "$W_TMP/allow.conf" "allow-foreign-socket = 127.0.0.11:40000" ||
    tap_bail "cannot write the dnsjail configuration"
ALLOW_CONF=$W_CONF
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

SERVER=$W_E2E_DIR/foreign-server.py
# The foreign servers: a specific loopback address (UDP and TCP), the IPv4 wildcard (UDP) and
# the dual-stack IPv6 wildcard (TCP, reached over IPv6 and IPv4).
SERVER_SPECS=(udp/127.0.0.11/40000 tcp/127.0.0.11/40000 udp/0.0.0.0/40001 tcp/::/40002)
FOREIGN_LABELS=(f_udp f_tcp f_any4 f_any6 f_any6v4)

# Starts the relaying server for namespace NSPATH from the fake internet's namespace, where it
# stays; it relays to the canary's catch-all port 9999, or to PORT; sets SERVER_PID and
# SERVER_LOG.
start_server() { # NSPATH LABEL [PORT]
    SERVER_LOG=$W_TMP/server-$2.log
    : >"$SERVER_LOG"
    nsenter --net="/run/netns/$W_INET" python3 "$SERVER" "$1" "$SERVER_LOG" 127.0.0.1 "${3:-9999}" \
        "${SERVER_SPECS[@]}" >"$W_TMP/server-$2.out" 2>&1 &
    SERVER_PID=$!
    W_PIDS+=("$SERVER_PID")
    wait_until 10 grep -qs '^ready' "$W_TMP/server-$2.out" || {
        tap_diag_file "$W_TMP/server-$2.out"
        return 1
    }
}

probe_args() { # TAG
    local t=$1
    echo "udp|f_udp|127.0.0.11|40000|tok-$t-fudp"
    echo "tcp|f_tcp|127.0.0.11|40000|tok-$t-ftcp"
    echo "udp|f_any4|127.0.0.1|40001|tok-$t-fany4"
    echo "tcp|f_any6|::1|40002|tok-$t-fany6"
    echo "tcp|f_any6v4|127.0.0.1|40002|tok-$t-fany6v4"
    # Last: an answer from the jail's stub shows the probes before it are over.
    echo "dns|dns_after|after-$t.attacker.test|A|-|udp"
}
token_of() { probe_args "$1" | mawk -F'|' -v l="$2" '$2 == l { print $NF }'; }

run_probe() { # ID NSPATH JAIL ANNOTATIONS TAG [CONF]
    local args=() conf=${6:-$W_CONF}
    mapfile -t args < <(probe_args "$5")
    W_CONF=$conf run_container runc "$1" "$2" "$3" "$4" -- /usr/bin/python3 /probe.py "${args[@]}"
}

got_through() { # OUT LABEL: the server answered
    grep -qE "^$2 .*(status=reply|status=connected) reply=b'relayed'" "$1"
}
refused_fast() { # OUT LABEL
    probe_isnt "$1" "$2" status reply && probe_isnt "$1" "$2" status connected &&
        probe_fast "$1" "$2" 1000
}
# The hook's log names the server, its holder's pid and name, with EVENT.
log_names() { # EVENT TEXT
    grep -F "\"event\":\"$1\"" "$W_LOG" | grep -qF -- "$2"
}

# ---- control: without the jail, every token reaches the canary through the server -------------
world_ctns fctl || tap_bail "cannot make a namespace"
NS=$W_NS
start_server "$NS" ctl || tap_bail "cannot start the foreign server"
tag=$(world_random)
run_probe "$W_ID-ctl" "$NS" yes "io.dnsjail.enable=false" "$tag"
tap_check "control: the container ran (enable=false)" grep -q '^probe-done' "$RUN_OUT" || _show_run
for label in "${FOREIGN_LABELS[@]}"; do
    tap_check "control: $label answered by the foreign server" got_through "$RUN_OUT" "$label" ||
        tap_diag "$(grep "^$label " "$RUN_OUT")"
    tap_check "control: the canary saw $label's token" canary_saw_net "$(token_of "$tag" "$label")"
done
tap_check "control: no table in the namespace" no_nft_table_in "$NS"

# ---- block (the default) --------------------------------------------------------------------
world_ctns fblock || tap_bail "cannot make a namespace"
NS=$W_NS
start_server "$NS" block || tap_bail "cannot start the foreign server"
tag=$(world_random)
run_probe "$W_ID-block" "$NS" yes "io.dnsjail.enable=true" "$tag"
tap_check "block: the container ran jailed (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check "block: the stub answered the last probe" probe_is "$RUN_OUT" dns_after answers A:6.6.6.6 ||
    _show_run
for label in "${FOREIGN_LABELS[@]}"; do
    tap_check "block: $label refused within 1 s" refused_fast "$RUN_OUT" "$label" ||
        tap_diag "$(grep "^$label " "$RUN_OUT")"
done
tap_check "block: the foreign server got nothing of this run" eval '! grep -qF "$tag" "$SERVER_LOG"' ||
    tap_diag_file "$SERVER_LOG"
tap_check "block: the canary saw nothing of this run" eval 'canary_none "$tag"'
for what in 127.0.0.11:40000/udp 127.0.0.11:40000/tcp 0.0.0.0:40001/udp "[::]:40002/tcp"; do
    tap_check "block: the log names $what, held by pid $SERVER_PID (python3) outside the container" \
        log_names foreign_socket_blocked "$what held by pid $SERVER_PID (python3) outside the container" ||
        tap_diag_file "$W_LOG" 10
done
tap_check "block: none of the jail's own listeners is named" \
    eval '! grep -F foreign_socket "$W_LOG" | grep -qE ":(15353|15380|15443|15400)/"'
assert_gone "block" "$RUN_CID" "$NS"

# ---- refuse ---------------------------------------------------------------------------------
tag=$(world_random)
run_probe "$W_ID-refuse" "$NS" yes "io.dnsjail.enable=true" "$tag" "$REFUSE_CONF"
tap_check "refuse: runc fails" test "$RUN_RC" -ne 0
tap_check "refuse: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
tap_check "refuse: runc's stderr names the server and its holder" \
    eval 'grep -q "dnsjail: .*127.0.0.11:40000/.* held by pid $SERVER_PID (python3) outside the container" "$RUN_ERR"' ||
    tap_diag_file "$RUN_ERR" 5
tap_check "refuse: the refusal is in the log (jail_refused)" log_has_event jail_refused "$RUN_CID"
tap_check "refuse: the canary saw nothing of it" eval 'canary_none "$tag"'
assert_gone "refuse" "$RUN_CID" "$NS"

# ---- allow-foreign-socket leaves the one it names open, and only that one -------------------
tag=$(world_random)
run_probe "$W_ID-allow" "$NS" yes "io.dnsjail.enable=true" "$tag" "$ALLOW_CONF"
tap_check "allow: the container ran jailed (exit 0)" test "$RUN_RC" -eq 0 || _show_run
for label in f_udp f_tcp; do
    tap_check "allow: $label (named) answered by the foreign server" got_through "$RUN_OUT" "$label" ||
        tap_diag "$(grep "^$label " "$RUN_OUT")"
done
for label in f_any4 f_any6 f_any6v4; do
    tap_check "allow: $label (not named) refused within 1 s" refused_fast "$RUN_OUT" "$label" ||
        tap_diag "$(grep "^$label " "$RUN_OUT")"
    tap_check "allow: the canary did not see $label's token" \
        eval 'canary_none "$(token_of "$tag" "$label")"'
done
tap_check "allow: the log says 127.0.0.11:40000/udp was left open" \
    log_names foreign_socket_allowed "127.0.0.11:40000/udp held by pid $SERVER_PID"
assert_gone "allow" "$RUN_CID" "$NS"

# ---- pods: a member's server is not foreign; one that appears between members is -------------
world_ctns fpod || tap_bail "cannot make a namespace"
NS=$W_NS
b=$(world_bundle "$W_ID-sandbox" --netns "$NS" -- /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.11", 40005))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo:" + data, peer)') || tap_bail "cannot make a bundle"
W_CONTAINERS+=("runc $W_ID-sandbox")
_run_capture "$W_ID-sandbox" runc_cmd run -d --bundle "$b" "$W_ID-sandbox"
tap_check "pod: the sandbox (no hook) serves 127.0.0.11:40005 inside the namespace" \
    wait_until 5 eval 'nsenter --net="$NS" ss -Hlun "sport = :40005" | grep -q 127.0.0.11'

tag=$(world_random)
b=$(world_bundle "$W_ID-m1" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=true -- /bin/sh -c \
    "/usr/bin/python3 /probe.py 'udp|member|127.0.0.11|40005|tok-$tag-m1' 'dns|dns_after|m1-$tag.attacker.test|A|-|udp'; exec sleep 300") ||
    tap_bail "cannot make a bundle"
W_CONTAINERS+=("runc $W_ID-m1")
_run_capture "$W_ID-m1" runc_cmd run -d --bundle "$b" "$W_ID-m1"
M1_OUT=$RUN_OUT
tap_check "pod: member 1 starts jailed" wait_until 10 probe_is "$M1_OUT" dns_after answers A:6.6.6.6 ||
    tap_diag_file "$RUN_ERR"
tap_check "pod: member 1 reaches the sandbox's server (a pod member's, not foreign)" \
    eval 'grep -q "^member .*status=reply reply=b.echo:tok-${tag:0:8}" "$M1_OUT"' ||
    tap_diag_file "$M1_OUT"
tap_check "pod: the sandbox's server is not named in the log" eval '! grep -qF ":40005/" "$W_LOG"'

start_server "$NS" pod || tap_bail "cannot start the foreign server"
tag=$(world_random)
run_probe "$W_ID-m2" "$NS" yes "io.dnsjail.enable=true" "$tag"
tap_check "pod: member 2 joins the jail (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check "pod: member 2's DNS goes to the running jail's stub (its listeners are not foreign)" \
    probe_is "$RUN_OUT" dns_after answers A:6.6.6.6 || _show_run
for label in "${FOREIGN_LABELS[@]}"; do
    tap_check "pod: a server added after member 1 is closed off at member 2's join: $label" \
        refused_fast "$RUN_OUT" "$label" || tap_diag "$(grep "^$label " "$RUN_OUT")"
done
tap_check "pod: the canary saw nothing of member 2" eval 'canary_none "$tag"'
tap_check "pod: the log names the new server's holder" \
    log_names foreign_socket_blocked "127.0.0.11:40000/udp held by pid $SERVER_PID (python3)"
tap_check "pod: the jail's own listeners are not named" \
    eval '! grep -F foreign_socket "$W_LOG" | grep -qE ":(15353|15380|15443|15400)/"'
# ---- dnsjail-leaktest's foreign-server-dns channel ------------------------------------------
# The probe finds the servers no process of the container holds and asks each for a name with
# its token; here the foreign server forwards DNS to the canary resolver, which logs the name.
LT_BIN=$top_builddir/leaktest/dnsjail-leaktest
SERVER_SPECS=(udp/127.0.0.11/40053)
world_ctns fleak || tap_bail "cannot make a namespace"
NS=$W_NS
# The forwarder relays to the canary resolver instead of the catch-all listener.
start_server "$NS" leak 53 || tap_bail "cannot start the foreign server"
run_leaktest() { # ID JAIL(yes|no)
    local opts=(--netns "$NS" --bind "$LT_BIN:/dnsjail-leaktest") b
    [ "$2" = yes ] && opts+=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true)
    b=$(world_bundle "$1" "${opts[@]}" -- /dnsjail-leaktest probe --canary-zone canary.test \
        --canary-addr 203.0.113.80 --only foreign-server-dns --timeout-ms 800) || return 1
    run_runc "$1" "$b"
}
lt_token() { mawk '$1 == "foreign-server-dns" { sub("token=", "", $3); print $3 }' "$RUN_OUT"; }
run_leaktest "$W_ID-lt-ctl" no
TOKEN=$(lt_token)
tap_check "leaktest control: the probe found the foreign server and asked it" \
    grep -q '^foreign-server-dns .*udp 127.0.0.11:40053' "$RUN_OUT" || _show_run
tap_check "leaktest control: without the jail the canary resolver saw the channel's token" \
    eval '[ -n "$TOKEN" ] && canary_saw_dns "$TOKEN"' || _show_run
run_leaktest "$W_ID-lt-jail" yes
TOKEN=$(lt_token)
tap_check "leaktest jailed: the probe ran and asked the foreign server" \
    grep -q '^foreign-server-dns .*udp 127.0.0.11:40053' "$RUN_OUT" || _show_run
tap_check "leaktest jailed: the probe saw no answer of the canary's (not leaked)" \
    eval '! grep -q "^foreign-server-dns *leaked" "$RUN_OUT"' || _show_run
tap_check "leaktest jailed: the canary resolver never saw the token" \
    eval '[ -n "$TOKEN" ] && canary_none_dns "$TOKEN"' || _show_run
tap_check "leaktest jailed: the forwarder got nothing" eval '! grep -qF "$TOKEN" "$SERVER_LOG"'
tap_done
