# lib.sh: what the `dnsjail` command's test scripts share: a temporary directory, TAP lines
# counted as they come, and a runner that keeps the status and the output.
# The script ends with: echo "1..$n"; [ "$failed" -eq 0 ]
set -u
top_builddir=${top_builddir:-.}
DNSJAIL=$top_builddir/cli/dnsjail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { # DESCRIPTION CMD...: ok when CMD succeeds
    local desc=$1
    shift
    n=$((n + 1))
    if "$@" >/dev/null 2>&1; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failed=$((failed + 1))
    fi
}
# Runs dnsjail with ARGS; leaves its status in rc and its output in $tmp/out.
run() { "$DNSJAIL" "$@" >"$tmp/out" 2>&1; rc=$?; }
out_has() { grep -qF -- "$1" "$tmp/out"; }
