#!/bin/bash
# docker.sh: dnsjail under a real Docker (Debian's docker.io 20.10), through dnsjail-runtime
# registered in daemon.json as Docker's own `dnsjail setup docker` would, on a private dockerd
# and containerd in the test world (tests/e2e/lib/engines.sh: Docker's bridge and NAT lead
# only to the test internet). A site (httpserve.py on 203.0.113.80, allowed.test) stands
# behind the test internet; every other name leads to the canary.
#   - control (runc, no dnsjail): every probe reaches the canary, the site answers;
#   - --runtime dnsjail-web (--profile web, allow allowed.test) with --cap-drop NET_RAW: DNS
#     sinkholed and the canary silent, a denied host gets 403 and nothing leaves, allowed.test
#     is reached, other ports refused, UDP and ICMP fail;
#   - --runtime dnsjail without the profile: allowed.test is denied too (the profile is what
#     allowed it);
#   - --runtime dnsjail-dropraw (drop-cap-net-raw = true): jailed without --cap-drop, and the
#     container has no CAP_NET_RAW;
#   - --runtime dnsjail by default (CAP_NET_RAW granted): refused, and Docker's error names the
#     key to set in one line;
#   - a runtime whose configuration dnsjail-runtime cannot load: refused, and Docker's error
#     carries the wrapper's reason (written to runc's JSON log, where Docker reads it);
#   - a detached jailed container: its daemons and table exist while it runs, `docker rm -f`
#     leaves nothing; normal exit leaves nothing either (Docker deletes at exit).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
# shellcheck source=tests/e2e/lib/engines.sh
. "$W_E2E_DIR/lib/engines.sh"
world_require dnsmasq dig curl nft
engines_require
world_require_build
W_RUNTIME=$top_builddir/runtime/dnsjail-runtime
[ -x "$W_RUNTIME" ] || tap_skip_all "not built: $W_RUNTIME"

SITE_IP=203.0.113.80
TAG=$(world_random)
world_dns_answer allowed.test "$SITE_IP"
world_up
world_dnsjail_conf --file "$W_TMP/dropraw.conf" "drop-cap-net-raw = true" ||
    tap_bail "cannot write the drop-cap-net-raw configuration"
world_dnsjail_conf "profile.web.allow = allowed.test" || tap_bail "cannot write the configuration"
world_site site "$SITE_IP" "site-$TAG" || tap_bail "the site did not start"

# The runtimes as an admin registers them (runtimeArgs: no spaces, Docker does not quote them).
runtime_json() { # NAME CONF [MORE ARGS...]
    local name=$1 conf=$2 arg list=""
    shift 2
    for arg in --config "$conf" --hook-binary "$W_HOOK" --runtime-binary "$E_RUNC" "$@"; do
        list+="${list:+, }\"$arg\""
    done
    printf '"%s": {"path": "%s", "runtimeArgs": [%s]}' "$name" "$W_RUNTIME" "$list"
}
# A configuration the wrapper cannot load: its own refusal, which Docker shows only when it is
# in runc's JSON log (--log), since Docker reads the reason from there.
printf '# written by tests/e2e/docker.sh\nno-such-key-%s = 1\n' "$TAG" >"$W_TMP/broken.conf"
engines_up "{ $(runtime_json dnsjail "$W_CONF"), $(runtime_json dnsjail-web "$W_CONF" --profile web),
    $(runtime_json dnsjail-dropraw "$W_TMP/dropraw.conf"),
    $(runtime_json dnsjail-broken "$W_TMP/broken.conf") }"

probe_args() { # TAG
    local t=$1
    echo "dns|dns_resolv|secret-$t-r.attacker.test|A|-|udp"
    echo "dns|dns_literal|secret-$t-l.attacker.test|A|198.51.100.53|udp"
    echo "dns|dns_tcp|secret-$t-t.attacker.test|A|192.0.2.1|tcp"
    echo "tcp|tcp22|192.0.2.1|22|tok-$t-tcp22"
    echo "tcp|tcp9999|203.0.113.9|9999|tok-$t-tcp9999"
    echo "udp|udp9999|192.0.2.1|9999|tok-$t-udp"
    echo "icmp|icmp4|192.0.2.1|tok-$t-icmp4"
}
# docker run NAME with OPTIONS of the probes tagged TAG.
docker_probe() { # NAME TAG [docker run options]
    local name=$1 tag=$2 args=()
    shift 2
    mapfile -t args < <(probe_args "$tag")
    run_docker "$name" "$@" -- /http-probe.sh "$tag" "${args[@]}"
}
show() { tap_diag "exit $RUN_RC"; tap_diag_file "$RUN_OUT" 20; tap_diag_file "$RUN_ERR" 10; }
# The container's daemons and state are gone, and so is every daemon of this run.
docker_gone() { # WHAT CID
    assert_gone "$1" "$2"
    tap_check "$1: no namespace state left" state_empty
}

tap_plan 67

# ---- control: Docker's own runc, no dnsjail: every probe reaches the canary ----------------
t=$(world_random)
docker_probe "$W_ID-control" "$t" --cap-drop NET_RAW
tap_check "control: the container ran (exit 0)" test "$RUN_RC" -eq 0 || show
for label in dns_resolv dns_literal dns_tcp; do
    tap_check "control: $label answered by the canary resolver" \
        probe_is "$RUN_OUT" "$label" answers "A:203.0.113.7"
done
tap_check "control: the canary resolver saw the names" canary_saw_dns "secret-$t-r.attacker.test"
for label in tcp22 tcp9999; do
    tap_check "control: $label reached the canary" canary_saw_net "tok-$t-$label"
done
tap_check "control: udp9999 got a reply" probe_is "$RUN_OUT" udp9999 status reply
tap_check "control: the site answered http://allowed.test/" site_body_is "site-$TAG"
tap_check "control: the request to a denied host reached the canary" canary_saw_net "path-$t"

# ---- --runtime dnsjail-web --cap-drop NET_RAW: jailed with the profile ---------------------
t=$(world_random)
docker_probe "$W_ID-web" "$t" --runtime dnsjail-web --cap-drop NET_RAW
CID=$RUN_CID
W="dnsjail-web --cap-drop NET_RAW"
tap_check "$W: the container ran jailed (exit 0)" test "$RUN_RC" -eq 0 || show
for label in dns_resolv dns_literal dns_tcp; do
    tap_check "$W: $label answered 6.6.6.6 by the stub" probe_is "$RUN_OUT" "$label" answers "A:6.6.6.6"
done
tap_check "$W: the canary resolver saw none of the names" canary_none_dns "secret-$t"
tap_check "$W: the hook logged the query with Docker's container id" \
    log_has_query "$CID" "secret-$t-r.attacker.test" || tap_diag_file "$W_LOG" 5
for label in tcp22 tcp9999; do
    tap_check "$W: $label refused within 1 s" \
        eval 'probe_isnt "$RUN_OUT" $label status connected && probe_fast "$RUN_OUT" $label 1000'
done
tap_check "$W: udp9999 fails" probe_isnt "$RUN_OUT" udp9999 status reply
tap_check "$W: icmp4 fails" probe_isnt "$RUN_OUT" icmp4 status reply
tap_check "$W: the allowed site (profile web) was reached" site_body_is "site-$TAG" || show
tap_check "$W: a denied host gets 403 from the proxy" probe_is "$RUN_OUT" http_denied code 403 || show
tap_check "$W: the canary saw nothing of this run" canary_none "$t" ||
    tap_diag "$(grep -hF "$t" "$W_CANARY_NET_LOG" "$W_CANARY_DNS_LOG")"
docker_gone "$W, after exit" "$CID"

# ---- --runtime dnsjail: no profile, so allowed.test is denied too -------------------------
t=$(world_random)
docker_probe "$W_ID-plain" "$t" --runtime dnsjail --cap-drop NET_RAW
CID=$RUN_CID
W="dnsjail --cap-drop NET_RAW"
tap_check "$W: the container ran jailed (exit 0)" test "$RUN_RC" -eq 0 || show
tap_check "$W: DNS answered 6.6.6.6 by the stub" probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6"
tap_check "$W: without the profile allowed.test gets 403" probe_is "$RUN_OUT" http_allowed code 403
tap_check "$W: the canary saw nothing of this run" canary_none "$t"
docker_gone "$W, after exit" "$CID"

# ---- --runtime dnsjail-dropraw: the admin key drops CAP_NET_RAW ----------------------------
t=$(world_random)
docker_probe "$W_ID-dropraw" "$t" --runtime dnsjail-dropraw
CID=$RUN_CID
W="dnsjail-dropraw (drop-cap-net-raw = true)"
tap_check "$W: the container ran jailed without --cap-drop (exit 0)" test "$RUN_RC" -eq 0 || show
tap_check "$W: DNS answered 6.6.6.6 by the stub" probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6"
tap_check "$W: tcp22 refused" probe_isnt "$RUN_OUT" tcp22 status connected
tap_check "$W: the container has no CAP_NET_RAW" \
    lacks_cap_net_raw || show
tap_check "$W: the canary saw nothing of this run" canary_none "$t"
docker_gone "$W, after exit" "$CID"

# ---- --runtime dnsjail with Docker's defaults: CAP_NET_RAW, so refused ----------------------
t=$(world_random)
docker_probe "$W_ID-refused" "$t" --runtime dnsjail
CID=$RUN_CID
W="dnsjail with CAP_NET_RAW"
tap_check "$W: docker run fails" test "$RUN_RC" -ne 0
tap_check "$W: nothing ran" eval '! grep -q "^probe-done" "$RUN_OUT"'
tap_check "$W: Docker's error names the key to set" grep -q "drop-cap-net-raw" "$RUN_ERR" || show
tap_check_out "$W: ... in one line" 1 "$(grep -c "drop-cap-net-raw" "$RUN_ERR")"
tap_check "$W: the canary saw nothing of this run" canary_none "$t"
docker_gone "$W" "$CID"
# Positive control for the capability check: Docker's defaults grant it.
tap_check "control: without dnsjail the container has CAP_NET_RAW (what the refusal is about)" \
    eval 'docker_probe "$W_ID-rawctl" "$(world_random)" && has_cap_net_raw' || show

# ---- the wrapper's own refusal reaches docker run's error -----------------------------------
t=$(world_random)
docker_probe "$W_ID-broken" "$t" --runtime dnsjail-broken --cap-drop NET_RAW
W="a configuration dnsjail-runtime cannot load"
tap_check "$W: docker run fails" test "$RUN_RC" -ne 0
tap_check "$W: nothing ran" eval '! grep -q "^probe-done" "$RUN_OUT"'
tap_check "$W: Docker's error carries the wrapper's reason (the file and its unknown key)" \
    grep -qF "broken.conf:2: unknown key 'no-such-key-$TAG'" "$RUN_ERR" || show
tap_check "$W: the canary saw nothing of it" canary_none "$t"

# ---- a running jailed container, then docker rm -f ------------------------------------------
W="detached, docker rm -f"
W_CONTAINERS+=("docker $W_ID-detached")
docker_cmd run -d --name "$W_ID-detached" --runtime dnsjail-web --cap-drop NET_RAW \
    -v /usr:/usr:ro "$E_IMAGE" /usr/bin/sleep 600 >"$W_TMP/detached.out" 2>&1
tap_check "$W: the container runs" eval 'test "$(docker_cmd inspect -f "{{.State.Running}}" "$W_ID-detached")" = true' ||
    tap_diag_file "$W_TMP/detached.out"
CID=$(docker_cmd inspect -f '{{.Id}}' "$W_ID-detached")
PID=$(docker_cmd inspect -f '{{.State.Pid}}' "$W_ID-detached")
tap_check "$W: its stub and proxy run" wait_until 5 eval '[ "$(daemons_for "$CID" | wc -l)" = 2 ]'
tap_check "$W: its namespace has table inet dnsjail" nft_table_in "/proc/$PID/ns/net"
tap_check "$W: docker rm -f" docker_cmd rm -f "$W_ID-detached"
docker_gone "$W" "$CID"

# dnsjail's idle spares were started by hooks in the engines' mount namespace and hold it until
# they are stopped (world_cleanup does that otherwise).
tap_check "every engine stops and leaves nothing (no daemon, shim, namespace)" \
    eval 'engines_stop && world_stop_spares && wait_until 10 engines_gone'
