#!/bin/bash
# man-pages.sh: the man pages format without a groff warning, and they keep up with the code:
# every key of the admin configuration's table (lib/jail/adminconf.c) is in dnsjail.conf(5), every
# io.dnsjail.* annotation the policy parser knows (lib/jail/policy.h) is in dnsjail-annotations(7).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
man=$top_builddir/docs/man
pages=(dnsjail.8 dnsjail-hook.8 dnsjail-runtime.8 dnsjail.conf.5 dnsjail-annotations.7)
n=0
failed=0
result() { # RC DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
command -v groff >/dev/null || { echo "1..0 # SKIP groff is missing"; exit 0; }

keys=$(sed -n 's/^ *{"\([a-z0-9-]*\)", VALUE_.*/\1/p' "$top_srcdir/lib/jail/adminconf.c")
annotations=$(sed -n 's/^#define DJ_ANNOTATION_[A-Z_]* "\(io\.dnsjail\.[a-z-]*\)".*/\1/p' "$top_srcdir/lib/jail/policy.h" | sort -u)
commands=$(sed -n 's/^ *{"\([a-z-]*\)", dj_cli_.*/\1/p' "$top_srcdir/cli/dnsjail.c")
echo "1..$((${#pages[@]} + $(wc -w <<<"$keys") + $(wc -w <<<"$annotations") + $(wc -w <<<"$commands") + 3))"
for page in "${pages[@]}"; do
    # Justification warnings depend on how long the configured paths are (distcheck's are
    # long), not on the page: they are left out.
    warnings=$(groff -man -ww -z -Tutf8 "$man/$page" 2>&1 | grep -vE "cannot adjust line|can.t break line|cannot break line")
    result $([ -f "$man/$page" ] && [ -z "$warnings" ]; echo $?) "$page formats without warnings"
    [ -z "$warnings" ] || echo "$warnings" | sed 's/^/# /'
done
# At least the keys we know exist must have been found, or the checks below prove nothing.
result $([ "$(wc -w <<<"$keys")" -ge 20 ]; echo $?) "found the configuration keys in lib/jail/adminconf.c"
result $([ "$(wc -w <<<"$annotations")" -ge 3 ]; echo $?) "found the annotations in lib/jail/policy.h"
result $([ "$(wc -w <<<"$commands")" -ge 1 ]; echo $?) "found the commands in cli/dnsjail.c"
text8=$(groff -man -Tutf8 -rLL=400n -rHY=0 "$man/dnsjail.8" 2>/dev/null | col -b)
for c in $commands; do
    result $(grep -qE "^ +$c( |\$)" <<<"$text8"; echo $?) "dnsjail(8) documents the command $c"
done
text5=$(groff -man -Tutf8 -rLL=400n -rHY=0 "$man/dnsjail.conf.5" 2>/dev/null | col -b)
for key in $keys; do
    result $(grep -qw -- "$key" <<<"$text5"; echo $?) "dnsjail.conf(5) documents $key"
done
text7=$(groff -man -Tutf8 -rLL=400n -rHY=0 "$man/dnsjail-annotations.7" 2>/dev/null | col -b)
for a in $annotations; do
    result $(grep -qF -- "$a" <<<"$text7"; echo $?) "dnsjail-annotations(7) documents $a"
done
[ "$failed" -eq 0 ]
