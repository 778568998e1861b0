#!/bin/bash
# package-upgrade.sh: the Debian package installs a working jail, and replacing the package
# while a jailed container runs leaves that container jailed; the new package's poststop then
# tears the jail down. Run by scripts/test.sh after scripts/build-deb.sh:
#   DNSJAIL_DEB=_build-deb/dnsjail_VERSION_ARCH.deb tests/e2e/package-upgrade.sh
# It installs the package on this machine and purges it at the end; it refuses to run where
# dnsjail is already installed (it would replace and then remove the admin's installation).
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig dpkg
[ -n "${DNSJAIL_DEB:-}" ] && [ -f "$DNSJAIL_DEB" ] || tap_skip_all "DNSJAIL_DEB names no package"
if dpkg-query -W -f='${Status}' dnsjail 2>/dev/null | grep -q 'install ok installed'; then
    tap_skip_all "dnsjail is already installed on this machine; not touching it"
fi

LIBEXEC=/usr/libexec/dnsjail
world_up
tap_check "the package installs" dpkg -i "$DNSJAIL_DEB" || tap_bail "dpkg -i failed"
world_on_cleanup "dpkg --purge dnsjail >/dev/null"
tap_check "the hooks.d file is where podman and CRI-O look" \
    test -f /usr/share/containers/oci/hooks.d/dnsjail-prestart.json

# The installed programs, not the build tree's.
W_HOOK=$LIBEXEC/dnsjail-hook
W_STUB_EXE=$LIBEXEC/dnsjail-dnsstub
world_dnsjail_conf "libexec-dir = $LIBEXEC" || tap_bail "cannot write the configuration"

id=$W_ID-pkg
world_ctns pkg || tap_bail "cannot make a namespace"
ns=$W_NS
b=$(world_bundle "$id" --netns "$ns" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=true -- /bin/sleep 300) || tap_bail "cannot make the bundle"
W_CONTAINERS+=("runc $id")
_run_capture "$id" runc_cmd run -d --bundle "$b" "$id"
tap_check "a jailed container starts with the installed hook" test "$RUN_RC" -eq 0 ||
    tap_diag_file "$RUN_ERR" 5

resolves_sinkhole() {
    local out=$W_TMP/out/$id.exec
    runc_cmd exec "$id" /usr/bin/python3 /probe.py \
        "dns|dns|pkg-$(world_random).attacker.test|A|-|udp" >"$out" 2>&1
    probe_is "$out" dns answers A:6.6.6.6 || { tap_diag_file "$out" 5; return 1; }
}
tap_check "before the upgrade: the jail answers 6.6.6.6" resolves_sinkhole
stub=$(stub_for "$id" | head -1)
tap_check "before the upgrade: the stub runs the installed binary" \
    test "$(readlink "/proc/$stub/exe" 2>/dev/null)" = "$LIBEXEC/dnsjail-dnsstub"

# Reinstalling unpacks every file again (new inodes, renamed over the old ones), as an upgrade
# does.
tap_check "the package is replaced while the container runs" dpkg -i "$DNSJAIL_DEB"
tap_check "after the upgrade: the same stub still runs" kill -0 "$stub"
tap_check "after the upgrade: it runs the replaced (deleted) binary" \
    eval '[[ "$(readlink /proc/$stub/exe)" == *"(deleted)" ]]'
tap_check "after the upgrade: the table is still in the namespace" nft_table_in "$ns"
tap_check "after the upgrade: the jail still answers 6.6.6.6" resolves_sinkhole

# The new package's poststop tears the old jail down.
runc_cmd kill "$id" KILL >/dev/null 2>&1
wait_until 10 eval '[ "$(runc_cmd state "$id" 2>/dev/null | grep -c stopped)" -gt 0 ]'
runc_cmd delete "$id" >/dev/null 2>&1
tap_check "after delete: the stub is gone" wait_until 5 eval '! kill -0 "$stub" 2>/dev/null'
tap_check "after delete: no state left for the container" state_clean_for "$id"
tap_check "after delete: the table left the namespace" no_nft_table_in "$ns"
tap_done
