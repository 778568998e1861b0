#!/bin/bash
# podman.sh: the jail through podman (runtime runc) with what `make install` puts on a machine:
# the project is configured, built and installed into a temporary prefix, and podman gets the
# installed hooks.d directory; the installed hook reads the installed config path. Then the
# same battery as runc.sh and crun.sh, and one refusal seen through podman.
# podman never uses its own networks here (its bridge masquerades to the real network): every
# container joins a namespace of the test world with --network ns:PATH.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc podman dnsmasq dig make
[ -x "$top_srcdir/configure" ] || tap_skip_all "no $top_srcdir/configure (run ./autogen.sh)"
[ -e "$top_srcdir/config.status" ] && tap_skip_all "$top_srcdir is configured in-tree; a VPATH build needs a clean tree"
world_up

# ---- make install into a temporary prefix -------------------------------------------------
PREFIX=$W_TMP/prefix
BUILD=$W_TMP/build
mkdir -p "$BUILD"
install_project() {
    (cd "$BUILD" &&
        "$top_srcdir/configure" --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" \
            --localstatedir="$PREFIX/var" --runstatedir="$PREFIX/run" >configure.log 2>&1 &&
        make -j2 install >make.log 2>&1)
}
tap_check "configure && make install into a temporary prefix" install_project || {
    tap_diag_file "$BUILD/configure.log" 10
    tap_diag_file "$BUILD/make.log" 20
    tap_bail "cannot build and install the project"
}
# The stub runs as nobody from the installed libexec dir: every level must be traversable.
chmod -R a+rX "$PREFIX"

HOOKSD=$PREFIX/share/containers/oci/hooks.d
LIBEXEC=$PREFIX/libexec/dnsjail
hooksd_file_ok() { # FILE STAGE: valid hooks.d JSON for STAGE, pointing at the installed hook
    /usr/bin/python3 "$W_E2E_DIR/lib/hooksdcheck.py" "$1" "$2" "$LIBEXEC/dnsjail-hook"
}
tap_check "installed hooks.d/dnsjail-prestart.json is right" \
    hooksd_file_ok "$HOOKSD/dnsjail-prestart.json" prestart
tap_check "installed hooks.d/dnsjail-poststop.json is right" \
    hooksd_file_ok "$HOOKSD/dnsjail-poststop.json" poststop

# The admin config where the installed hook looks for it (no --config in hooks.d), pointing
# state and log into this run and leaving libexec-dir at its installed default.
W_HOOK=$LIBEXEC/dnsjail-hook
W_STUB_EXE=$LIBEXEC/dnsjail-dnsstub
W_STATE=$W_TMP/state
W_LOG=$W_TMP/log/dnsjail.log
W_CONF=$PREFIX/etc/dnsjail/dnsjail.conf
W_PODMAN_HOOKSDIR=$HOOKSD
mkdir -p "$(dirname "$W_CONF")"
cat >"$W_CONF" <<EOF
# written by tests/e2e/podman.sh
state-dir = $W_STATE
log-file = $W_LOG
user = nobody
allow-cap-net-raw = false
allow-cap-net-admin = false
sinkhole-ipv4 = 6.6.6.6
dns-port = 15353
upstream-resolvers = 192.0.2.1
EOF

# ---- the battery --------------------------------------------------------------------------
world_battery_control podman
world_battery_jailed podman
world_battery_disabled podman

# ---- a refusal through podman -------------------------------------------------------------
world_ctns podrefuse || tap_bail "cannot make a namespace"
id=$W_ID-podman-refused
run_podman "$id" "$W_NS" "$HOOKSD" --annotation io.dnsjail.mode=learn -- \
    /usr/bin/python3 /probe.py "dns|dns_resolv|refused-$(world_random).attacker.test|A|-|udp"
tap_check "podman, unknown mode: podman run fails" test "$RUN_RC" -ne 0
tap_check "podman, unknown mode: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
tap_check "podman, unknown mode: podman's stderr has 'dnsjail:' and 'learn'" \
    eval 'grep -q "dnsjail: " "$RUN_ERR" && grep -q learn "$RUN_ERR"' || tap_diag_file "$RUN_ERR" 5
assert_gone "podman, unknown mode" "$RUN_CID" "$W_NS"
tap_check "podman: no dnsjail daemon of this run left" no_daemons_at_all

tap_done
