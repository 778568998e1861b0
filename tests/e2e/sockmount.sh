#!/bin/bash
# sockmount.sh: issue 10, item 6. A container engine's socket bind-mounted into a jailed
# container is a door around the jail (through it the container starts an unjailed one); so is
# a resolver's socket. The hook must refuse such a mount (the socket itself, or a directory
# holding it) with one line that names the mount and the socket, unless the admin lists the
# path in allow-socket-mounts.
# The door is real here: a fake docker.sock (sock-relay.py), served outside the container,
# relays whatever a client writes into it to the fake internet, so a token sent through it
# reaches the canary. Refused cases run first; then the control (io.dnsjail.enable=false) and
# the admin-allowed cases use the socket. The relay numbers its connections, so "the first
# connection it ever got carries the control's token" proves the refused ones never got in.
# Runs under runc and crun.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq python3
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_ctns sockmount || tap_bail "cannot make a namespace"
NS=$W_NS
CONF_DEFAULT=$W_CONF

ENGINE=$W_TMP/engine # a directory holding the socket, like /var/run
SOCK=$ENGINE/run/docker.sock
RELAY_LOG=$W_TMP/relay.log
mkdir -p "$ENGINE/run" "$W_TMP/agent"
chmod 755 "$ENGINE" "$ENGINE/run"
: >"$RELAY_LOG"
nsenter --net="/run/netns/$W_INET" python3 "$W_E2E_DIR/sock-relay.py" "$SOCK" "$RELAY_LOG" \
    203.0.113.7 8080 >"$W_TMP/relay.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/relay.out" || tap_bail "the fake docker.sock does not listen"
# A socket of no engine or resolver (like an ssh agent's): mounting it is fine.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$W_TMP/agent/agent.sock" || tap_bail "cannot make agent.sock"

# The container's command: speak to the engine API at PATH, carrying TOKEN.
client() { # PATH TOKEN
    CLIENT=(/usr/bin/python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('$1'); s.sendall(b'POST /containers/create?token=$2 HTTP/1.0\r\n\r\n'); print('engine-reply', s.recv(200))")
}
relay_conns() { grep -c '^conn [0-9]* data=' "$RELAY_LOG"; }

# RUNTIME CASE SOURCE DESTINATION CLIENT_PATH: a jailed container with the bind mount
# SOURCE:DESTINATION must be refused, naming the mount and $SOCK.
REFUSED_TOKENS=()
refused_case() {
    local runtime=$1 name=$2 src=$3 dst=$4 token b id=$W_ID-s-$2
    token=sockmount-$(world_random)
    REFUSED_TOKENS+=("$token")
    client "$5" "$token"
    b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --bind "$src:$dst" -- "${CLIENT[@]}") || tap_bail "cannot make bundle $id"
    "run_$runtime" "$id" "$b"
    tap_check "$name: $runtime fails" test "$RUN_RC" -ne 0
    tap_check "$name: the container did not run" eval '! grep -q engine-reply "$RUN_OUT"'
    # crun does not pass the hook's stderr on: there the log line has the message.
    local where=$RUN_ERR
    [ "$runtime" = crun ] && where=$W_LOG
    tap_check "$name: $([ "$runtime" = crun ] && echo "the log" || echo stderr) names the mount and the socket" \
        grep -qF "container $id: the bind mount of $src onto $dst gives the container the socket $SOCK, a container engine's API" "$where" ||
        tap_diag_file "$RUN_ERR" 5
    tap_check "$name: and says how to allow it (allow-socket-mounts)" grep -qF "allow-socket-mounts" "$where"
    tap_check "$name: the refusal is in the log (jail_refused)" log_has_event jail_refused "$id"
    assert_gone "$name" "$id" "$NS"
}

refused_case runc socket "$SOCK" /var/run/docker.sock /var/run/docker.sock
refused_case runc directory "$ENGINE" /host-run /host-run/run/docker.sock
refused_case runc directory-trailing-slash "$ENGINE/run/" /var/run /var/run/docker.sock
refused_case crun socket-crun "$SOCK" /var/run/docker.sock /var/run/docker.sock
refused_case crun directory-crun "$ENGINE" /host-run /host-run/run/docker.sock
tap_check "refused cases: the fake docker.sock got no connection yet" test "$(relay_conns)" -eq 0

# The control: the same mount with the jail off. The token must reach the canary through the
# socket, or the refusals above prove nothing.
token=sockmount-control-$(world_random)
client /var/run/docker.sock "$token"
id=$W_ID-s-control
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=false --bind "$SOCK:/var/run/docker.sock" -- "${CLIENT[@]}") ||
    tap_bail "cannot make bundle $id"
run_runc "$id" "$b"
tap_check "control (enable=false): runc runs the container" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
tap_check "control (enable=false): the engine answered" grep -q "engine-reply b'HTTP" "$RUN_OUT" ||
    tap_diag_file "$RUN_OUT" 5
tap_check "control (enable=false): the token went through the socket to the canary" \
    wait_until 10 canary_saw_net "$token"
tap_check "control: the first connection the fake docker.sock ever got is the control's" \
    grep -q "^conn 1 data=.*$token" "$RELAY_LOG"
for t in "${REFUSED_TOKENS[@]}"; do
    tap_check "refused token $t reached neither the socket nor the canary" \
        eval '! grep -qF "$t" "$RELAY_LOG" && canary_none "$t"'
done

# The admin allows the socket (documented as opening the door): the jailed container starts,
# and the door is open.
world_dnsjail_conf --file "$W_TMP/allow-sock.conf" "allow-socket-mounts = $SOCK"
token=sockmount-allowed-$(world_random)
client /var/run/docker.sock "$token"
id=$W_ID-s-allowed
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --bind "$SOCK:/var/run/docker.sock" -- "${CLIENT[@]}") || tap_bail "cannot make bundle $id"
run_runc "$id" "$b"
tap_check "allow-socket-mounts = the socket: the jailed container runs" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5
tap_check "allow-socket-mounts: it was jailed (jail_started in the log)" \
    log_has_event jail_started "$id"
tap_check "allow-socket-mounts: and the socket is a door (its token reached the canary)" \
    wait_until 10 canary_saw_net "$token"
assert_gone "allow-socket-mounts" "$id" "$NS"

# The directory allowed, under crun.
world_dnsjail_conf --file "$W_TMP/allow-dir.conf" "allow-socket-mounts = /nowhere, $ENGINE"
token=sockmount-allowed-dir-$(world_random)
client /host-run/run/docker.sock "$token"
id=$W_ID-s-allowed-dir
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --bind "$ENGINE:/host-run" -- "${CLIENT[@]}") || tap_bail "cannot make bundle $id"
run_crun "$id" "$b"
tap_check "allow-socket-mounts = the directory: crun runs the jailed container" \
    test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "allow-socket-mounts = the directory: its token reached the canary" \
    wait_until 10 canary_saw_net "$token"
assert_gone "allow-socket-mounts, directory" "$id" "$NS"
W_CONF=$CONF_DEFAULT

# Other sockets stay mountable: no engine, no resolver.
id=$W_ID-s-agent
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --bind "$W_TMP/agent:/agent" -- /usr/bin/python3 -c "print('agent-ran')") ||
    tap_bail "cannot make bundle $id"
run_runc "$id" "$b"
tap_check "a directory with another socket (agent.sock): the jailed container runs" \
    grep -q agent-ran "$RUN_OUT" || tap_diag_file "$RUN_ERR" 5
assert_gone "agent.sock" "$id" "$NS"

tap_done
