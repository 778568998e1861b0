#!/bin/bash
# k8s-installer.sh: deploy/kubernetes/node-install.sh, what the installer DaemonSet runs on each
# node, against fake node roots: a CRI-O node, a containerd node whose config.toml imports the
# drop-in directory and one whose config.toml does not. The package's files come from
# `make install DESTDIR=` of the build tree (the .deb holds the same tree). Install, install
# again, upgrade (a file the new version drops is removed, binaries replaced), uninstall (every
# file it wrote gone, the node's own files untouched); the manifests parse as Kubernetes
# objects of the kinds the docs name.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require sha256sum
world_require_build
world_init
/usr/bin/python3 -c 'import yaml' 2>/dev/null || tap_bail "python3-yaml is missing (scripts/install-deps.sh test)"
INSTALLER=$top_srcdir/deploy/kubernetes/node-install.sh
STAGE=$W_TMP/stage
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" install DESTDIR="$STAGE" \
    >"$W_TMP/install.log" 2>&1 || { tap_diag_file "$W_TMP/install.log" 20; tap_bail "make install DESTDIR= failed"; }
DNSJAIL_CLI=$(find "$STAGE" -path '*/bin/dnsjail' -type f | head -n 1)
[ -x "$DNSJAIL_CLI" ] || tap_bail "no dnsjail command in the staged tree"
RUNTIME_REL=$(cd "$STAGE" && find . -path '*/bin/dnsjail-runtime' | sed 's|^\./||')
HOOK_REL=$(cd "$STAGE" && find . -path '*/dnsjail/dnsjail-hook' | sed 's|^\./||')
CONFIG=$W_TMP/configmap-dnsjail.conf
printf 'default-enable = true\nprofile.web.allow = github.com\n' >"$CONFIG"

node() { # ROOT install|uninstall [CONFIG]: the installer as the DaemonSet runs it
    local root=$1
    shift
    NODE_ROOT=$root SOURCE=$STAGE DNSJAIL=$DNSJAIL_CLI sh "$INSTALLER" "$@" >"$W_TMP/node.out" 2>&1
}
sum_of() { sha256sum <"$1"; }

tap_plan 26

# ---- a CRI-O node ------------------------------------------------------------------------------
CRIO=$W_TMP/node-crio
mkdir -p "$CRIO/etc/crio" "$CRIO/usr/bin"
printf '[crio]\nlog_level = "info"\n' >"$CRIO/etc/crio/crio.conf"
crio_conf_sum=$(sum_of "$CRIO/etc/crio/crio.conf")
node "$CRIO" install "$CONFIG"
tap_check "CRI-O node: install exits 0" test $? -eq 0 || tap_diag_file "$W_TMP/node.out"
tap_check "... the runtime wrapper and the hook are on the node" \
    eval 'test -x "$CRIO/$RUNTIME_REL" && test -x "$CRIO/$HOOK_REL"'
tap_check "... with the staged bytes" \
    test "$(sum_of "$CRIO/$HOOK_REL")" = "$(sum_of "$STAGE/$HOOK_REL")"
tap_check "... the hooks.d files too" \
    eval 'test -n "$(find "$CRIO" -name dnsjail-prestart.json)"'
tap_check "... the ConfigMap is /etc/dnsjail/dnsjail.conf, mode 644" \
    eval 'cmp -s "$CONFIG" "$CRIO/etc/dnsjail/dnsjail.conf" && [ "$(stat -c %a "$CRIO/etc/dnsjail/dnsjail.conf")" = 644 ]'
tap_check "... the CRI-O drop-in names the dnsjail handler" \
    grep -q '^\[crio.runtime.runtimes.dnsjail\]' "$CRIO/etc/crio/crio.conf.d/50-dnsjail.conf"
tap_check "... no containerd drop-in on a CRI-O node" test ! -e "$CRIO/etc/containerd"
tap_check "... crio.conf untouched" test "$(sum_of "$CRIO/etc/crio/crio.conf")" = "$crio_conf_sum"
tap_check "... the log names node paths, not the mount" \
    eval 'grep -q "crio: /etc/crio/crio.conf.d/50-dnsjail.conf" "$W_TMP/node.out" && ! grep -q "$CRIO" "$W_TMP/node.out"'
tap_check "... the manifest lists every file it wrote, the configuration included" \
    eval 'grep -qx "$HOOK_REL" "$CRIO/var/lib/dnsjail/installed-files" && grep -qx etc/dnsjail/dnsjail.conf "$CRIO/var/lib/dnsjail/installed-files"'
manifest_sum=$(sum_of "$CRIO/var/lib/dnsjail/installed-files")
node "$CRIO" install "$CONFIG"
tap_check "install again: exit 0, the same manifest, the drop-in set up already" \
    eval '[ "$(sum_of "$CRIO/var/lib/dnsjail/installed-files")" = "$manifest_sum" ] && grep -q "set up already" "$W_TMP/node.out"'

# ---- an upgrade: a new version with one file more and one file less ---------------------------
OLD_ONLY=usr/share/dnsjail/old-only.txt
mkdir -p "$CRIO/usr/share/dnsjail" "$STAGE/usr/share/dnsjail"
printf 'v1\n' >"$STAGE/$OLD_ONLY"
node "$CRIO" install "$CONFIG"
tap_check "version 1 with an extra file: installed" test -f "$CRIO/$OLD_ONLY"
rm -f "$STAGE/$OLD_ONLY"
printf 'v2\n' >"$STAGE/usr/share/dnsjail/new-only.txt"
cp "$STAGE/$HOOK_REL" "$W_TMP/hook.v1"
printf '\n# v2\n' >>"$STAGE/$HOOK_REL"
node "$CRIO" install "$CONFIG"
tap_check "upgrade: the file version 2 dropped is removed, and said" \
    eval 'test ! -e "$CRIO/$OLD_ONLY" && grep -q "removed $OLD_ONLY" "$W_TMP/node.out"'
tap_check "... the new file is there" test -f "$CRIO/usr/share/dnsjail/new-only.txt"
tap_check "... the hook is version 2's" test "$(sum_of "$CRIO/$HOOK_REL")" = "$(sum_of "$STAGE/$HOOK_REL")"
cp "$W_TMP/hook.v1" "$STAGE/$HOOK_REL"
rm -f "$STAGE/usr/share/dnsjail/new-only.txt"

# ---- uninstall ----------------------------------------------------------------------------------
printf 'the admin'"'"'s own\n' >"$CRIO/usr/share/dnsjail/admin-note.txt"
node "$CRIO" uninstall
tap_check "uninstall: exit 0, says so" eval 'grep -q uninstalled "$W_TMP/node.out"'
tap_check "... no file it wrote is left" \
    eval '! find "$CRIO" -type f | grep -E "dnsjail-(hook|runtime|prestart|poststop)|50-dnsjail.conf|installed-files|dnsjail.conf$"'
tap_check "... a file it did not write stays" test -f "$CRIO/usr/share/dnsjail/admin-note.txt"
tap_check "... crio.conf untouched" test "$(sum_of "$CRIO/etc/crio/crio.conf")" = "$crio_conf_sum"
node "$CRIO" uninstall
tap_check "uninstall again: nothing to do, exit 0" eval 'grep -q "nothing installed" "$W_TMP/node.out"'

# ---- containerd nodes ------------------------------------------------------------------------
CTRD=$W_TMP/node-containerd
mkdir -p "$CTRD/etc/containerd"
printf 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n' >"$CTRD/etc/containerd/config.toml"
node "$CTRD" install "$CONFIG"
tap_check "containerd node (imports conf.d): the drop-in with pod_annotations, no imports note" \
    eval 'grep -q "pod_annotations = \[\"io.dnsjail.\*\"\]" "$CTRD/etc/containerd/conf.d/dnsjail.toml" && ! grep -q "add this line" "$W_TMP/node.out"'
CTRD2=$W_TMP/node-containerd-plain
mkdir -p "$CTRD2/etc/containerd"
printf 'version = 2\n' >"$CTRD2/etc/containerd/config.toml"
node "$CTRD2" install "$CONFIG"
tap_check "containerd node without imports: the log names the line to add" \
    grep -q 'imports = \["/etc/containerd/conf.d/\*.toml"\]' "$W_TMP/node.out"
tap_check "... and config.toml is not edited" \
    test "$(cat "$CTRD2/etc/containerd/config.toml")" = "version = 2"
node "$CTRD2" uninstall
tap_check "... uninstall removes the drop-in" test ! -e "$CTRD2/etc/containerd/conf.d/dnsjail.toml"

# ---- the manifests --------------------------------------------------------------------------
tap_check_out "the manifests hold the objects the docs name" \
    "ConfigMap/dnsjail-config DaemonSet/dnsjail-installer DaemonSet/dnsjail-uninstaller Namespace/dnsjail-system RuntimeClass/dnsjail" \
    "$(/usr/bin/python3 -c 'import sys, yaml
objs = [o for f in sys.argv[1:] for o in yaml.safe_load_all(open(f)) if o]
print(" ".join(sorted(o["kind"] + "/" + o["metadata"]["name"] for o in objs)))' \
        "$top_srcdir"/deploy/kubernetes/*.yaml)"
tap_check "the RuntimeClass's handler is the one setup registers (dnsjail)" \
    /usr/bin/python3 -c 'import sys, yaml; sys.exit(0 if yaml.safe_load(open(sys.argv[1]))["handler"] == "dnsjail" else 1)' \
    "$top_srcdir/deploy/kubernetes/runtimeclass.yaml"
tap_done
