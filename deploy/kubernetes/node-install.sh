#!/bin/sh
# node-install.sh: puts dnsjail on a Kubernetes node from the installer DaemonSet's container,
# and takes it off again. The node's root is mounted at NODE_ROOT (default /host); the package's
# files (dpkg-deb -x of the .deb) are at SOURCE (default /opt/dnsjail/root).
#
#   node-install.sh install [CONFIG]   copy the files (each to a new name, then renamed over the
#                                      old: running daemons keep their binaries), CONFIG (the
#                                      ConfigMap's dnsjail.conf) as /etc/dnsjail/dnsjail.conf,
#                                      and `dnsjail setup` for each engine found on the node
#                                      (CRI-O, containerd); a file the last install put there and
#                                      this one does not is removed (an upgrade)
#   node-install.sh uninstall          undo all of it: the engines' drop-ins, then every file
#                                      the manifest lists
# The manifest (/var/lib/dnsjail/installed-files on the node) lists what install wrote; no file
# it does not list is ever removed. The engines must be restarted to read a new drop-in, and
# containerd's main configuration must import /etc/containerd/conf.d/*.toml: both are said, not
# done (an engine's own configuration is the admin's).
set -eu

NODE_ROOT=${NODE_ROOT:-/host}
SOURCE=${SOURCE:-/opt/dnsjail/root}
DNSJAIL=${DNSJAIL:-$SOURCE/usr/bin/dnsjail} # the package's own dnsjail command
MANIFEST=/var/lib/dnsjail/installed-files
CONFIG_PATH=/etc/dnsjail/dnsjail.conf

say() { echo "dnsjail-node-install: $*"; }
die() { say "$*" >&2; exit 1; }

# The engines this node runs, by their configuration directories.
engines() {
    [ -d "$NODE_ROOT/etc/crio" ] && echo crio
    [ -d "$NODE_ROOT/etc/containerd" ] && echo containerd
    return 0
}

setup_engines() { # [--undo]
    found=
    for engine in $(engines); do
        found=1
        "$DNSJAIL" setup "$engine" --root "$NODE_ROOT" "$@" |
            sed "s|$NODE_ROOT/|/|g"
    done
    [ -n "$found" ] || say "neither CRI-O nor containerd found under $NODE_ROOT/etc"
}

# FILE (relative, as in the manifest) from SOURCE to the node, by a rename.
put() {
    dst=$NODE_ROOT/$1
    mkdir -p "$(dirname "$dst")"
    cp -p "$SOURCE/$1" "$dst.dnsjail-new"
    mv -f "$dst.dnsjail-new" "$dst"
}

install_node() {
    config=${1:-}
    [ -x "$DNSJAIL" ] || die "no package files at $SOURCE (no $DNSJAIL)"
    [ -d "$NODE_ROOT" ] || die "no node root at $NODE_ROOT"
    new=$(mktemp)
    (cd "$SOURCE" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort) >"$new"
    while IFS= read -r f; do put "$f"; done <"$new"
    if [ -n "$config" ]; then
        # The hook refuses a configuration others can write: root's, 0644.
        mkdir -p "$NODE_ROOT$(dirname "$CONFIG_PATH")"
        cp "$config" "$NODE_ROOT$CONFIG_PATH.dnsjail-new"
        chmod 0644 "$NODE_ROOT$CONFIG_PATH.dnsjail-new"
        mv -f "$NODE_ROOT$CONFIG_PATH.dnsjail-new" "$NODE_ROOT$CONFIG_PATH"
        echo "${CONFIG_PATH#/}" >>"$new"
        sort -o "$new" "$new"
    fi
    # An upgrade: what the last install wrote and this one did not goes.
    if [ -f "$NODE_ROOT$MANIFEST" ]; then
        sort "$NODE_ROOT$MANIFEST" | comm -23 - "$new" | while IFS= read -r f; do
            rm -f "$NODE_ROOT/$f"
            say "removed $f (not in this version)"
        done
    fi
    mkdir -p "$NODE_ROOT$(dirname "$MANIFEST")"
    mv -f "$new" "$NODE_ROOT$MANIFEST"
    chmod 0644 "$NODE_ROOT$MANIFEST"
    say "installed $(wc -l <"$NODE_ROOT$MANIFEST") files"
    setup_engines
}

uninstall_node() {
    [ -f "$NODE_ROOT$MANIFEST" ] || { say "nothing installed (no $MANIFEST)"; return 0; }
    setup_engines --undo
    while IFS= read -r f; do
        case $f in
        "" | /* | *..*) continue ;; # only paths install wrote, below the node root
        esac
        rm -f "$NODE_ROOT/$f"
    done <"$NODE_ROOT$MANIFEST"
    rm -f "$NODE_ROOT$MANIFEST"
    say "uninstalled"
}

case ${1:-} in
install) install_node "${2:-}" ;;
uninstall) uninstall_node ;;
*) echo "usage: $0 install [CONFIG] | uninstall" >&2; exit 2 ;;
esac
