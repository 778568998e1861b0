#!/bin/bash
# hook-linkage.sh: the hook is linked the way configure chose ("whether the hook links as one
# static binary", DNSJAIL_HOOK_LINK from the Makefile). Static: a PIE with no program
# interpreter (PT_INTERP), no shared library needed, and the hardening of every other program
# (RELRO, bind-now, a stack that is not executable). Dynamic: it has an interpreter, so a
# build that chose static and linked dynamically fails here, and so does the reverse.
: "${top_builddir:=$(pwd)}"
hook=$top_builddir/hook/dnsjail-hook
n=0
failed=0
ok() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=$((failed + 1)); fi
}

case "${DNSJAIL_HOOK_LINK:-}" in
static | dynamic) ;;
*)
    echo "Bail out! DNSJAIL_HOOK_LINK is '${DNSJAIL_HOOK_LINK:-}', not static or dynamic (run from make check)"
    exit 1
    ;;
esac
if [ ! -x "$hook" ] || ! command -v readelf >/dev/null; then
    echo "Bail out! needs $hook and readelf (binutils)"
    exit 1
fi
headers=$(LC_ALL=C readelf -lW "$hook") || exit 1
dynamic=$(LC_ALL=C readelf -dW "$hook") || exit 1
has_header() { grep -q "^  $1 " <<<"$headers"; }
echo "# configure chose: $DNSJAIL_HOOK_LINK"

ok "a position-independent executable (ELF type DYN)" grep -q '^Elf file type is DYN' <<<"$headers"
ok "RELRO" has_header GNU_RELRO
ok "bound at load (BIND_NOW)" grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' <<<"$dynamic"
ok "a stack that is not executable" grep -Eq '^  GNU_STACK .* RW  ' <<<"$headers"
if [ "$DNSJAIL_HOOK_LINK" = static ]; then
    ok "static: no program interpreter (PT_INTERP)" bash -c '! grep -q "^  INTERP " <<<"$1"' _ "$headers"
    ok "static: needs no shared library" bash -c '! grep -q "(NEEDED)" <<<"$1"' _ "$dynamic"
    ok "static: ldd calls it statically linked" bash -c 'LC_ALL=C ldd "$1" 2>&1 | grep -Eq "statically linked|not a dynamic executable"' _ "$hook"
else
    ok "dynamic: has a program interpreter (PT_INTERP)" has_header INTERP
fi
echo "1..$n"
[ "$failed" -eq 0 ]
