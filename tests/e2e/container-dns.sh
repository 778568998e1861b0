#!/bin/bash
# container-dns.sh: a CI job's container on a user-defined network reaches its service
# containers by name and nothing else (container-dns, container-dns-names,
# allow-container-networks). The engine is faked the way Docker 20.10 works: a resolver
# started from outside the job's namespace serves 127.0.0.11:5335 inside it, a DNAT in the
# namespace sends 127.0.0.11:53 there (Docker's DOCKER_OUTPUT chain), it answers the service
# names and forwards every other question to the world's canary resolver from inside the
# namespace. The job network is a bridge in a gateway namespace (198.18.5.0/24, the gateway
# .1 standing for the host), with a service at .3 (port 5432); the gateway routes on to the
# fake internet. A positive control without the jail first: the same probes reach the canary.
# Runs through runc.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig nft
world_require_build
world_up
world_dnsjail_conf "container-dns = 127.0.0.11" "container-dns-names = *, db.svc.test" \
    "allow-container-networks = true" || tap_bail "cannot write the dnsjail configuration"

ENGINE=$W_E2E_DIR/fake-engine-dns.py
SVC_ADDR=198.18.5.3
GW_ADDR=198.18.5.1

# ---- the job network ------------------------------------------------------------------------
world_ctns svcgw || tap_bail "cannot make the gateway namespace"
GW_NS=$W_NS
GW_IN_INET=192.0.2.$((W_NS_COUNT + 1))
nsenter --net="$GW_NS" sh -e -c "
    ip link add svcbr type bridge forward_delay 0
    ip addr add $GW_ADDR/24 dev svcbr
    ip link set svcbr up
    sysctl -qw net.ipv4.ip_forward=1" || tap_bail "cannot build the job network's bridge"
# The internet sends replies for the job network back through the gateway.
ip -n "$W_INET" route replace 198.18.5.0/24 via "$GW_IN_INET" table local ||
    tap_bail "cannot route the job network"

# A namespace on the job network; its path in NET_MEMBER_PATH. Not run in $(...): the cleanup it
# registers must reach this shell's list.
net_member() { # NAME HOSTNUMBER
    local name=$W_ID-$1
    ip netns add "$name" || return 1
    world_on_cleanup ip netns del "$name"
    ip link add "djv$2" netns "$(basename "$GW_NS")" type veth peer name eth0 netns "$name" &&
        ip -n "$(basename "$GW_NS")" link set "djv$2" master svcbr up &&
        ip -n "$name" link set lo up && ip -n "$name" link set eth0 up &&
        ip -n "$name" addr add "198.18.5.$2/24" dev eth0 &&
        ip -n "$name" route add default via "$GW_ADDR" || return 1
    NET_MEMBER_PATH=/run/netns/$name
}
net_member job 2 || tap_bail "cannot make the job's namespace"
JOB_NS=$NET_MEMBER_PATH
net_member svc 3 || tap_bail "cannot make the service's namespace"
SVC_NS=$NET_MEMBER_PATH

# The service (postgres, say) and a server on the gateway (the host's side of the bridge).
SVC_LOG=$W_TMP/svc.log
GW_LOG=$W_TMP/gw.log
: >"$SVC_LOG"
: >"$GW_LOG"
serve_tcp() { # NSPATH ADDR PORT LOG REPLY
    nsenter --net="$1" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16); print("ready", flush=True)
while True:
    c, _ = s.accept(); c.settimeout(2)
    try:
        data = c.recv(200); open(sys.argv[3], "a").write(repr(data) + "\n"); c.sendall(sys.argv[4].encode())
    except OSError:
        pass
    c.close()' "$2" "$3" "$4" "$5" >"$W_TMP/serve-$3-$2.out" 2>&1 &
    W_PIDS+=($!)
    wait_until 10 grep -qs '^ready' "$W_TMP/serve-$3-$2.out"
}
serve_tcp "$SVC_NS" "$SVC_ADDR" 5432 "$SVC_LOG" svc-ok || tap_bail "cannot start the service"
serve_tcp "$GW_NS" "$GW_ADDR" 9999 "$GW_LOG" gw-ok || tap_bail "cannot start the gateway's server"

# The engine's resolver, held from the host's namespace inside the job's (a foreign server, which
# the jail closes off), and its DNAT.
ENGINE_LOG=$W_TMP/engine.log
: >"$ENGINE_LOG"
nsenter --net="$W_HOSTNS_PATH" python3 "$ENGINE" "$JOB_NS" "$ENGINE_LOG" 5335 192.0.2.1 \
    postgres=$SVC_ADDR db.svc.test=$SVC_ADDR >"$W_TMP/engine.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/engine.out" || tap_bail "cannot start the engine's resolver"
nsenter --net="$JOB_NS" nft -f - <<'NFT' || tap_bail "cannot add the engine's DNAT"
table ip djtest_engine {
    chain output {
        type nat hook output priority -100; policy accept;
        ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:5335
    }
}
NFT

probe_args() { # TAG
    local t=$1
    echo "dns|svc_name|postgres|A|127.0.0.11|udp"
    echo "dns|svc_alias|db.svc.test|A|127.0.0.11|udp"
    echo "dns|svc_resolv|postgres|A|-|udp"
    echo "dns|other|secret-$t-o.attacker.test|A|127.0.0.11|udp"
    echo "dns|other_alias|x.db.svc.test|A|127.0.0.11|udp"
    echo "dns|single|secret$t|A|127.0.0.11|udp"
    echo "dns|svc_tcp|postgres|A|127.0.0.11|tcp"
    echo "tcp|svc_port|$SVC_ADDR|5432|tok-$t-svc"
    echo "tcp|gateway|$GW_ADDR|9999|tok-$t-gw"
    echo "udp|side_door|127.0.0.11|5335|tok-$t-side"
    echo "tcp|internet|203.0.113.9|9999|tok-$t-inet"
    echo "dns|dns_after|after-$t.attacker.test|A|-|udp"
}
run_probe() { # ID JAIL ANNOTATIONS TAG
    local args=()
    mapfile -t args < <(probe_args "$4")
    run_container runc "$1" "$JOB_NS" "$2" "$3" -- /usr/bin/python3 /probe.py "${args[@]}"
    # Names resolve through the engine, as in a Docker container.
    true
}
line_of() { grep "^$2 " "$1"; }

# ---- control: without the jail the engine answers, forwards the rest, everything gets out ----
tag=$(world_random)
CTL_TAG=$tag
run_probe "$W_ID-ctl" no "" "$tag"
tap_check "control: the container ran" grep -q '^probe-done' "$RUN_OUT" || _show_run
tap_check "control: postgres resolves to the service through the engine" \
    probe_is "$RUN_OUT" svc_name answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_name)"
tap_check "control: db.svc.test resolves to the service" \
    probe_is "$RUN_OUT" svc_alias answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_alias)"
tap_check "control: another name is answered by the canary resolver through the engine" \
    probe_is "$RUN_OUT" other answers A:203.0.113.7 || tap_diag "$(line_of "$RUN_OUT" other)"
tap_check "control: the canary resolver saw the other name" canary_saw_dns "secret-$tag-o"
tap_check "control: the canary resolver saw the unknown single-label name" canary_saw_dns "secret$tag"
tap_check "control: the service's port answered" \
    eval 'grep -q "^svc_port .*status=connected reply=b.svc-ok" "$RUN_OUT"' ||
    tap_diag "$(line_of "$RUN_OUT" svc_port)"
tap_check "control: the gateway's server answered" \
    eval 'grep -q "^gateway .*status=connected reply=b.gw-ok" "$RUN_OUT"' ||
    tap_diag "$(line_of "$RUN_OUT" gateway)"
tap_check "control: the engine's real port (the side door) answered" \
    probe_is "$RUN_OUT" side_door status reply || tap_diag "$(line_of "$RUN_OUT" side_door)"
tap_check "control: the internet's canary saw the token" canary_saw_net "tok-$tag-inet"

# ---- jailed ----------------------------------------------------------------------------------
: >"$ENGINE_LOG"
tag=$(world_random)
run_probe "$W_ID-jail" yes "io.dnsjail.enable=true" "$tag"
tap_check "jailed: the container ran under the hook (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check "jailed: the stub answered the last probe" probe_is "$RUN_OUT" dns_after answers A:6.6.6.6 ||
    _show_run
tap_check "jailed: postgres resolves to the service (container DNS)" \
    probe_is "$RUN_OUT" svc_name answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_name)"
tap_check "jailed: postgres resolves through resolv.conf's server too" \
    probe_is "$RUN_OUT" svc_resolv answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_resolv)"
tap_check "jailed: postgres resolves over TCP (the stub asks the engine over UDP)" \
    probe_is "$RUN_OUT" svc_tcp answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_tcp)"
tap_check "jailed: the listed alias db.svc.test resolves to the service" \
    probe_is "$RUN_OUT" svc_alias answers "A:$SVC_ADDR" || tap_diag "$(line_of "$RUN_OUT" svc_alias)"
tap_check "jailed: another name gets the sinkhole" probe_is "$RUN_OUT" other answers A:6.6.6.6 ||
    tap_diag "$(line_of "$RUN_OUT" other)"
tap_check "jailed: a name below the alias (not listed) gets the sinkhole" \
    probe_is "$RUN_OUT" other_alias answers A:6.6.6.6 || tap_diag "$(line_of "$RUN_OUT" other_alias)"
tap_check "jailed: an unknown single-label name comes back with the sinkhole" \
    probe_is "$RUN_OUT" single answers A:6.6.6.6 || tap_diag "$(line_of "$RUN_OUT" single)"
tap_check "jailed: the engine was asked for postgres" grep -qx "owned postgres" "$ENGINE_LOG" ||
    tap_diag_file "$ENGINE_LOG"
tap_check "jailed: the engine never saw the other name" eval '! grep -qF "secret-$tag-o" "$ENGINE_LOG"'
tap_check "jailed: the engine forwarded the single-label name once (into the redirect)" \
    eval '[ "$(grep -cx "forwarded secret$tag" "$ENGINE_LOG")" = 1 ]' || tap_diag_file "$ENGINE_LOG"
tap_check "jailed: the canary resolver saw none of the names" canary_none_dns "$tag"
tap_check "jailed: the service's port answered" \
    eval 'grep -q "^svc_port .*status=connected reply=b.svc-ok" "$RUN_OUT"' ||
    tap_diag "$(line_of "$RUN_OUT" svc_port)"
tap_check "jailed: the service got the token" grep -qF "tok-$tag-svc" "$SVC_LOG"
tap_check "jailed: the gateway refused within 1 s" \
    eval 'probe_isnt "$RUN_OUT" gateway status connected && probe_fast "$RUN_OUT" gateway 1000' ||
    tap_diag "$(line_of "$RUN_OUT" gateway)"
tap_check "jailed: the gateway's server got nothing of this run" eval '! grep -qF "$tag" "$GW_LOG"'
tap_check "jailed: the side door (the engine's real port) gets no reply" \
    probe_isnt "$RUN_OUT" side_door status reply || tap_diag "$(line_of "$RUN_OUT" side_door)"
tap_check "jailed: the hook closed off the engine's real port as a foreign server" \
    eval 'grep -F "\"event\":\"foreign_socket_blocked\"" "$W_LOG" | grep -qF "127.0.0.11:5335/udp"' ||
    tap_diag_file "$W_LOG" 10
tap_check "jailed: the engine got nothing through the side door" \
    eval '! grep -qF "tok-$tag-side" "$ENGINE_LOG"'
tap_check "jailed: the internet refused within 1 s" \
    eval 'probe_isnt "$RUN_OUT" internet status connected && probe_fast "$RUN_OUT" internet 1000' ||
    tap_diag "$(line_of "$RUN_OUT" internet)"
tap_check "jailed: the canary listeners saw nothing of this run" canary_none_net "$tag"
tap_check "jailed: the log marks postgres's answer container_dns" \
    eval 'grep "\"qname\":\"postgres\"" "$W_LOG" | grep -q "\"container_dns\":true"' ||
    tap_diag_file "$W_LOG" 10
tap_check "jailed: the log has the other name sinkholed" \
    eval 'grep "secret-$tag-o" "$W_LOG" | grep -q "\"outcome\":\"sinkholed\""'
tap_check "jailed: the log has the single-label name forwarded to the engine" \
    eval 'grep "\"qname\":\"secret$tag\"" "$W_LOG" | grep -q "\"container_dns\":true"'
tap_check "jailed: the log has the engine's onward question sinkholed" \
    eval 'grep "\"qname\":\"secret$tag\"" "$W_LOG" | grep -q "\"outcome\":\"sinkholed\""'
assert_gone "jailed, after exit" "$RUN_CID" "$JOB_NS"
tap_check "after the jail: the engine's DNAT table is still there" \
    nsenter --net="$JOB_NS" nft list table ip djtest_engine

# ---- container-dns excludes allow-cap-net-raw -------------------------------------------------
world_dnsjail_conf --file "$W_TMP/raw.conf" "container-dns = 127.0.0.11" "allow-cap-net-raw = true" ||
    tap_bail "cannot write the dnsjail configuration"
tag=$(world_random)
run_probe "$W_ID-raw" yes "io.dnsjail.enable=true" "$tag"
tap_check "with allow-cap-net-raw: runc fails (the hook refuses the configuration)" test "$RUN_RC" -ne 0
tap_check "with allow-cap-net-raw: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
tap_check "with allow-cap-net-raw: stderr names the conflict" \
    grep -q "container-dns and allow-cap-net-raw exclude each other" "$RUN_ERR" ||
    tap_diag_file "$RUN_ERR" 5
tap_check "with allow-cap-net-raw: the canary saw nothing" canary_none "$tag"
tap_done
