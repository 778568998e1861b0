#!/bin/bash
# house-map.sh: docs/DESIGN.md's map of the house keeps up with the tree. Every program folder
# and every lib/ folder has a row in its table and a README or header saying what it owns;
# every file the table names exists; no source basename appears twice (main.c aside: each
# program has one), so a name found in a log or a grep leads to one file.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$top_srcdir" || exit 1
design=docs/DESIGN.md
n=0
failed=0
result() { # RC DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
# The table between "## The house" and the next blank line after it.
table=$(sed -n '/^## The house/,/^How a container/p' "$design" | grep '^| `')
# Program folders: every top-level folder with C sources but tests/ and bench/.
folders=()
for d in */; do
    d=${d%/}
    case $d in lib | tests | bench) continue ;; esac
    [ -n "$(ls "$d"/*.c 2>/dev/null)" ] && folders+=("$d")
done
for d in lib/*/; do folders+=("${d%/}"); done
echo "1..$((${#folders[@]} * 2 + 3))"
result $([ "$(wc -l <<<"$table")" -ge 10 ]; echo $?) "found the house table in $design"
for d in "${folders[@]}"; do
    result $(grep -q "^| \`$d/\`" <<<"$table"; echo $?) "$d/ has a row in the house table"
    # A program of one file says it in main.c's opening comment.
    if [ -f "$d/README.md" ] || [ -n "$(ls "$d"/*.h 2>/dev/null)" ] ||
        { [ "$(ls "$d"/*.c | wc -l)" = 1 ] && head -c 2 "$d/main.c" 2>/dev/null | grep -q '^/\*'; }; then
        ok=0
    else
        ok=1
    fi
    [ "${d#lib/}" = "$d" ] || [ -f "$d/README.md" ] || ok=1
    result $ok "$d/ says what it owns (lib/ folders: README.md; programs: a header)"
done
# Files the table names by their folder's path: `main.c` in the hook row is hook/main.c.
missing=
while IFS= read -r row; do
    dir=$(sed -n 's/^| `\([^`]*\)\/`.*/\1/p' <<<"$row")
    [ -n "$dir" ] && [ -d "$dir" ] || continue
    for f in $(grep -o '`[a-z0-9.-]*\.[ch]`' <<<"$row" | tr -d '`'); do
        [ -f "$dir/$f" ] || missing+=" $dir/$f"
    done
done <<<"$table"
result $([ -z "$missing" ]; echo $?) "every file the house table names exists${missing:+ (missing:$missing)}"
dups=$(find hook dnsstub proxy cli leaktest lib tests bench -name '*.[ch]' -printf '%f\n' | sort | uniq -d | grep -vx main.c)
result $([ -z "$dups" ]; echo $?) "no source basename twice except main.c${dups:+ (twice: $(echo $dups))}"
[ "$failed" -eq 0 ]
