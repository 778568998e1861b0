#!/bin/bash
# Runs every libFuzzer target briefly: first over its committed corpus (regressions), then
# for DNSJAIL_FUZZ_SECONDS (default 15) of new inputs in a scratch copy of the corpus.
# TAP output; a crash, leak, sanitizer report or timeout is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
seconds=${DNSJAIL_FUZZ_SECONDS:-15}
targets="dnswire oci-state oci-bundle policy adminconf tlshello httphead dnsanswer resphead leakreport promtext logline upstream fwdmsg vaddr procstat"

if [ -z "${CLANG:-}" ]; then
	echo "1..0 # SKIP clang with libFuzzer is not installed"
	exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

set -- $targets
echo "1..$(($# * 2))"
n=0
for t in $targets; do
	bin=$top_builddir/tests/fuzz/fuzz-$t
	corpus=$top_srcdir/tests/fuzz/corpus/$t
	log=$scratch/$t.log
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - fuzz-$t was not built"
		n=$((n + 1))
		echo "not ok $n - fuzz-$t: $seconds s of new inputs # SKIP not built"
		continue
	fi
	if [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "not ok $n - fuzz-$t: its corpus $corpus is empty"
	elif "$bin" -runs=0 "$corpus" >"$log" 2>&1; then
		echo "ok $n - fuzz-$t: $(ls "$corpus" | wc -l) corpus inputs"
	else
		echo "not ok $n - fuzz-$t: corpus input fails"
		sed 's/^/# /' "$log" | tail -30
	fi
	n=$((n + 1))
	mkdir -p "$scratch/$t"
	cp -r "$corpus/." "$scratch/$t/" 2>/dev/null
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"$scratch/$t" >"$log" 2>&1; then
		echo "ok $n - fuzz-$t: $seconds s of new inputs, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs"
	else
		echo "not ok $n - fuzz-$t: found a failing input in $seconds s"
		sed 's/^/# /' "$log" | grep -v '^# #[0-9]' | tail -40
	fi
done
