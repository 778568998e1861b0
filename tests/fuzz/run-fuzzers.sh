#!/bin/bash
# Runs every libFuzzer target briefly: first over its committed corpus (regressions), then
# for DNSJAIL_FUZZ_SECONDS (default 15) of new inputs in a scratch copy of the corpus.
# DNSJAIL_FUZZ_SECONDS=0 only replays the corpora (the sanitizer tree and distcheck: the fuzzing
# time is spent once per CI run, in the main tree).
# TAP output; a crash, leak, sanitizer report or timeout is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
seconds=${DNSJAIL_FUZZ_SECONDS:-15}
targets="dnswire oci-state oci-bundle policy adminconf tlshello httphead dnsanswer resphead leak promtext logline upstream fwdmsg vaddr sockdiag procstat daemonconf ocihooks sparemsg cdnsnames"

if [ -z "${CLANG:-}" ]; then
	echo "1..0 # SKIP clang with libFuzzer is not installed"
	exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

set -- $targets
per_target=2
[ "$seconds" -gt 0 ] || per_target=1
# Targets run DNSJAIL_FUZZ_JOBS at a time (default: one per CPU); each writes its TAP lines,
# without numbers, to a file of its own, and they are printed in order at the end.
jobs=${DNSJAIL_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

fuzz_one() { # TARGET: prints "ok|not ok - DESCRIPTION" lines, and diagnostics
	local t=$1 bin corpus log
	bin=$top_builddir/tests/fuzz/fuzz-$t
	corpus=$top_srcdir/tests/fuzz/corpus/$t
	log=$scratch/$t.log
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz-$t was not built"
		[ "$per_target" -eq 1 ] || echo "not ok - fuzz-$t: $seconds s of new inputs: not built"
		return
	fi
	if [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "not ok - fuzz-$t: its corpus $corpus is empty"
	elif "$bin" -runs=0 "$corpus" >"$log" 2>&1; then
		echo "ok - fuzz-$t: $(ls "$corpus" | wc -l) corpus inputs"
	else
		echo "not ok - fuzz-$t: corpus input fails"
		sed 's/^/# /' "$log" | tail -30
	fi
	[ "$per_target" -eq 2 ] || return
	mkdir -p "$scratch/$t"
	cp -r "$corpus/." "$scratch/$t/" 2>/dev/null
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"$scratch/$t" >"$log" 2>&1; then
		echo "ok - fuzz-$t: $seconds s of new inputs, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs"
	else
		echo "not ok - fuzz-$t: found a failing input in $seconds s"
		sed 's/^/# /' "$log" | grep -v '^# #[0-9]' | tail -40
	fi
}

running=0
for t in $targets; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$t" >"$scratch/$t.tap" 2>&1 &
	running=$((running + 1))
done
wait

echo "1..$(($# * per_target))"
n=0
for t in $targets; do
	while IFS= read -r line; do
		case $line in
		"ok - "* | "not ok - "*)
			n=$((n + 1))
			echo "${line%% - *} $n - ${line#* - }"
			;;
		*) echo "$line" ;;
		esac
	done <"$scratch/$t.tap"
done
