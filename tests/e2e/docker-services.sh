#!/bin/bash
# docker-services.sh: a CI job with a service container, as GitHub Actions runs one (`services:`),
# under a real Docker (Debian's docker.io 20.10) on a private dockerd (tests/e2e/lib/engines.sh):
# a user-defined network, a service container with the aliases postgres and db.svc.test serving
# port 5432, and the job container on the same network through dnsjail-runtime with
# container-dns = 127.0.0.11 and allow-container-networks. The job resolves the service's names
# through Docker's embedded DNS (container DNS) and reaches its port; every other name is
# sinkholed and nothing reaches the canary. A control with Docker's own runc first: the same
# probes reach the canary (Docker's resolver forwards the other names to it).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
# shellcheck source=tests/e2e/lib/engines.sh
. "$W_E2E_DIR/lib/engines.sh"
world_require dnsmasq dig nft
engines_require
world_require_build
W_RUNTIME=$top_builddir/runtime/dnsjail-runtime
[ -x "$W_RUNTIME" ] || tap_skip_all "not built: $W_RUNTIME"

world_up
world_dnsjail_conf "container-dns = 127.0.0.11" "container-dns-names = *, db.svc.test" \
    "allow-container-networks = true" || tap_bail "cannot write the configuration"
engines_up "{ \"dnsjail\": {\"path\": \"$W_RUNTIME\", \"runtimeArgs\": [\"--config\", \"$W_CONF\",
    \"--hook-binary\", \"$W_HOOK\", \"--runtime-binary\", \"$E_RUNC\"]} }"

NET=djt-job-$W_ID
docker_cmd network create "$NET" >/dev/null || tap_bail "cannot create the job network"
SVC_LOG=$W_TMP/svc.log
: >"$SVC_LOG"
chmod 666 "$SVC_LOG"
W_CONTAINERS+=("docker $W_ID-svc")
docker_cmd run -d --name "$W_ID-svc" --network "$NET" --network-alias postgres \
    --network-alias db.svc.test -v /usr:/usr:ro -v "$SVC_LOG:/svc.log" "$E_IMAGE" \
    /usr/bin/python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5432)); s.listen(16)
while True:
    c, _ = s.accept(); c.settimeout(2)
    try:
        open("/svc.log", "a").write(repr(c.recv(200)) + "\n"); c.sendall(b"svc-ok")
    except OSError:
        pass
    c.close()' >/dev/null || tap_bail "cannot start the service container"
SVC_IP=$(docker_cmd inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$W_ID-svc")
[ -n "$SVC_IP" ] || tap_bail "the service container has no address"
wait_until 10 nsenter --net="$W_HOSTNS_PATH" python3 -c '
import socket, sys
socket.create_connection((sys.argv[1], 5432), 1).close()' "$SVC_IP" ||
    tap_bail "the service does not listen"

probe_args() { # TAG
    local t=$1
    echo "dns|svc_name|postgres|A|-|udp"
    echo "dns|svc_alias|db.svc.test|A|-|udp"
    echo "dns|svc_tcp|postgres|A|-|tcp"
    echo "dns|other|secret-$t-o.attacker.test|A|-|udp"
    echo "dns|single|secret$t|A|-|udp"
    echo "tcp|svc_port|postgres|5432|tok-$t-svc"
    echo "tcp|internet|203.0.113.9|9999|tok-$t-inet"
    echo "dns|dns_after|after-$t.attacker.test|A|-|udp"
}
job() { # NAME TAG [docker run options]
    local name=$1 tag=$2 args=()
    shift 2
    mapfile -t args < <(probe_args "$tag")
    run_docker "$name" --network "$NET" --cap-drop NET_RAW "$@" -- /usr/bin/python3 /probe.py "${args[@]}"
}
show() { tap_diag "exit $RUN_RC"; tap_diag_file "$RUN_OUT" 20; tap_diag_file "$RUN_ERR" 10; }
line_of() { grep "^$2 " "$1"; }


# ---- control: Docker's own runc ------------------------------------------------------------
t=$(world_random)
job "$W_ID-control" "$t"
tap_check "control: the job ran (exit 0)" test "$RUN_RC" -eq 0 || show
tap_check "control: postgres resolves to the service" probe_is "$RUN_OUT" svc_name answers "A:$SVC_IP" ||
    tap_diag "$(line_of "$RUN_OUT" svc_name)"
tap_check "control: db.svc.test resolves to the service" \
    probe_is "$RUN_OUT" svc_alias answers "A:$SVC_IP" || tap_diag "$(line_of "$RUN_OUT" svc_alias)"
tap_check "control: another name is answered by the canary resolver" \
    probe_is "$RUN_OUT" other answers A:203.0.113.7 || tap_diag "$(line_of "$RUN_OUT" other)"
tap_check "control: the canary resolver saw the other name" canary_saw_dns "secret-$t-o"
tap_check "control: the canary resolver saw the unknown single-label name" canary_saw_dns "secret$t"
tap_check "control: the service answered" \
    eval 'grep -q "^svc_port .*status=connected reply=b.svc-ok" "$RUN_OUT"' ||
    tap_diag "$(line_of "$RUN_OUT" svc_port)"
tap_check "control: the canary saw the internet token" canary_saw_net "tok-$t-inet"

# ---- jailed: --runtime dnsjail ----------------------------------------------------------------
t=$(world_random)
job "$W_ID-jail" "$t" --runtime dnsjail
CID=$RUN_CID
W="dnsjail"
tap_check "$W: the job ran jailed (exit 0)" test "$RUN_RC" -eq 0 || show
tap_check "$W: the stub answered the last probe" probe_is "$RUN_OUT" dns_after answers A:6.6.6.6 ||
    show
tap_check "$W: postgres resolves to the service (container DNS)" \
    probe_is "$RUN_OUT" svc_name answers "A:$SVC_IP" || tap_diag "$(line_of "$RUN_OUT" svc_name)"
tap_check "$W: postgres resolves over TCP" probe_is "$RUN_OUT" svc_tcp answers "A:$SVC_IP" ||
    tap_diag "$(line_of "$RUN_OUT" svc_tcp)"
tap_check "$W: the alias db.svc.test resolves to the service" \
    probe_is "$RUN_OUT" svc_alias answers "A:$SVC_IP" || tap_diag "$(line_of "$RUN_OUT" svc_alias)"
tap_check "$W: another name gets the sinkhole" probe_is "$RUN_OUT" other answers A:6.6.6.6 ||
    tap_diag "$(line_of "$RUN_OUT" other)"
tap_check "$W: an unknown single-label name gets the sinkhole" \
    probe_is "$RUN_OUT" single answers A:6.6.6.6 || tap_diag "$(line_of "$RUN_OUT" single)"
tap_check "$W: the canary resolver saw none of the names" canary_none_dns "$t"
tap_check "$W: the service answered on its port" \
    eval 'grep -q "^svc_port .*status=connected reply=b.svc-ok" "$RUN_OUT"' ||
    tap_diag "$(line_of "$RUN_OUT" svc_port)"
tap_check "$W: the service got the token" grep -qF "tok-$t-svc" "$SVC_LOG"
tap_check "$W: the internet refused within 1 s" \
    eval 'probe_isnt "$RUN_OUT" internet status connected && probe_fast "$RUN_OUT" internet 1000' ||
    tap_diag "$(line_of "$RUN_OUT" internet)"
tap_check "$W: the canary saw nothing of this run" canary_none "$t"
tap_check "$W: the log marks postgres's answer container_dns" \
    eval 'grep "\"qname\":\"postgres\"" "$W_LOG" | grep -q "\"container_dns\":true"' ||
    tap_diag_file "$W_LOG" 10
tap_check "$W: the hook closed off Docker's resolver port as a foreign server" \
    eval 'grep -F "\"event\":\"foreign_socket_blocked\"" "$W_LOG" | grep -qF "127.0.0.11:"' ||
    tap_diag_file "$W_LOG" 10
tap_check "$W: the log has the single-label name's onward question sinkholed" \
    eval 'grep "\"qname\":\"secret$t\"" "$W_LOG" | grep -q "\"outcome\":\"sinkholed\""'
assert_gone "$W, after exit" "$CID"
tap_check "$W, after exit: no namespace state left" state_empty
tap_done
