#!/bin/bash
# podman.sh: the jail through podman (runtime runc) with what `make install` puts on a machine:
# the build tree is installed with DESTDIR into a staging directory (no second build), and the
# script runs in a mount namespace of its own where the staged files appear at their installed
# paths (a read-only overlay of each top directory, e.g. /usr, over the machine's): the hooks.d
# file names the installed hook, which reads the installed config path and starts the installed
# daemons. podman gets the installed hooks.d directory. Then the same battery as runc.sh and
# crun.sh, and one refusal seen through podman. The machine's own directories are not written.
# podman never uses its own networks here (its bridge masquerades to the real network): every
# container joins a namespace of the test world with --network ns:PATH.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc podman dnsmasq dig make unshare mount
world_require_build
# The overlays and every mount podman and the hook make stay in this namespace, and go with it.
if [ -z "${DJ_PODMAN_OWN_MOUNTS:-}" ]; then
    exec env DJ_PODMAN_OWN_MOUNTS=1 unshare -m --propagation private -- "$BASH" "$0" "$@"
fi
world_up

# ---- make install into a staging directory, seen at the installed paths -------------------
STAGE=$W_TMP/stage
# A variable of the build tree's Makefile (the configured paths, as the binaries have them).
build_var() { make -s --no-print-directory -C "$top_builddir" --eval 'dj-print-%: ; @echo $($*)' "dj-print-$1"; }
LIBEXEC=$(build_var pkglibexecdir) && SYSCONF=$(build_var pkgsysconfdir) &&
    HOOKSD=$STAGE$(build_var hooksdir) || tap_bail "cannot read the build tree's paths"

# The admin config where the installed hook looks for it (no --config in hooks.d), pointing
# state and log into this run and leaving libexec-dir at its installed default.
W_HOOK=$LIBEXEC/dnsjail-hook
W_STUB_EXE=$LIBEXEC/dnsjail-dnsstub
W_STATE=$W_TMP/state
W_LOG=$W_TMP/log/dnsjail.log
W_CONF=$SYSCONF/dnsjail.conf
# podman reads the staged hooks.d directory: it holds our two files only, whatever the
# machine's own hooks.d has.
W_PODMAN_HOOKSDIR=$HOOKSD
mkdir -p "$STAGE$SYSCONF"
cat >"$STAGE$W_CONF" <<EOF
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

install_project() {
    # Not the outer make's flags (make check's TESTS=...): a plain install of what is built.
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" install DESTDIR="$STAGE" \
        >"$W_TMP/install.log" 2>&1 || return 1
    # The stub runs as nobody from the installed libexec dir: every level must be traversable.
    chmod -R a+rX "$STAGE"
    # Each top directory of the staging tree over the machine's, read-only (both as lower
    # layers), once it is complete: an overlay's lower layers must not change under it.
    local dir top
    for dir in "$STAGE"/*; do
        top=/${dir##*/}
        [ -d "$top" ] || { echo "the machine has no $top to lay $dir over"; return 1; } >>"$W_TMP/install.log"
        mount -t overlay dnsjail-stage -o "ro,lowerdir=$dir:$top" "$top" >>"$W_TMP/install.log" 2>&1 ||
            return 1
    done
}
tap_check "make install DESTDIR= of the build tree, seen at the installed paths" install_project || {
    tap_diag_file "$W_TMP/install.log" 20
    tap_bail "cannot install the project"
}

hooksd_file_ok() { # FILE STAGE: valid hooks.d JSON for STAGE, pointing at the installed hook
    /usr/bin/python3 "$W_E2E_DIR/lib/hooksdcheck.py" "$1" "$2" "$LIBEXEC/dnsjail-hook"
}
tap_check "installed hooks.d/dnsjail-prestart.json is right" \
    hooksd_file_ok "$HOOKSD/dnsjail-prestart.json" prestart
tap_check "installed hooks.d/dnsjail-poststop.json is right" \
    hooksd_file_ok "$HOOKSD/dnsjail-poststop.json" poststop

# ---- the battery --------------------------------------------------------------------------
world_battery_control podman
world_battery_jailed podman
world_battery_disabled podman

# ---- a refusal through podman -------------------------------------------------------------
world_ctns podrefuse || tap_bail "cannot make a namespace"
id=$W_ID-podman-refused
run_podman "$id" "$W_NS" "$W_PODMAN_HOOKSDIR" --annotation io.dnsjail.mode=learn -- \
    /usr/bin/python3 /probe.py "dns|dns_resolv|refused-$(world_random).attacker.test|A|-|udp"
tap_check "podman, unknown mode: podman run fails" test "$RUN_RC" -ne 0
tap_check "podman, unknown mode: the container did not run" eval '! grep -q probe-done "$RUN_OUT"'
tap_check "podman, unknown mode: podman's stderr has 'dnsjail:' and 'learn'" \
    eval 'grep -q "dnsjail: " "$RUN_ERR" && grep -q learn "$RUN_ERR"' || tap_diag_file "$RUN_ERR" 5
assert_gone "podman, unknown mode" "$RUN_CID" "$W_NS"
tap_check "podman: no dnsjail daemon of this run left" no_daemons_at_all

tap_done
