#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine (run as root: the end-to-end tests start
# real containers in network namespaces they create):
#   1. installs what is missing (apt-get; docker.io and containerd without ever running them
#      as this machine's services: scripts/install-deps.sh),
#   2. runs two lanes at once:
#      - in the foreground, the build with -Werror (_build/), then the end-to-end tests with
#        runc, crun, podman, and a private dockerd and containerd in the test namespaces
#        (tests/e2e/lib/engines.sh), one suite at a time (make check-e2e: they time how fast
#        things fail, and mostly wait on containers);
#      - beside it, at lower priority (nice): a build with AddressSanitizer and
#        UndefinedBehaviorSanitizer (_build-asan/) is configured; once the main build is done,
#        the unit tests, fuzzers, CLI and doc tests run in parallel (make check-fast); the
#        sanitizer tree is built and runs the unit and fuzz tests (the fuzzers only replay their
#        corpora there and in distcheck: they had their time in the main tree); `make
#        distcheck` (unit and fuzz tests only); the Debian package is built (_build-deb/,
#        without its tests: they ran above);
#   3. when both lanes are done, checks that replacing the installed package under a running
#      jailed container keeps the jail (installs the package on this machine, purges it after),
# and ends with a table of the steps (status, seconds; each step's output is in
# _build/steps/STEP.log), the list of what skipped, and one line "N passed, N failed, N
# skipped". A skip is not a pass; with CI=true an end-to-end suite that skips whole counts as
# failed.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=2

scripts/install-deps.sh test || exit 1

passed=0
failed=0
skipped=0
skips=() # "suite: reason" of everything that skipped, printed before the totals
steps=$top/_build/steps
rm -rf _build && mkdir -p "$steps"

# ---- running steps --------------------------------------------------------------------------
# A step's output goes to $steps/NAME.log, its exit status and wall time to $steps/NAME.rc
# ("STATUS SECONDS"): the lanes run in separate processes, so the counting happens after both.
run() { # NAME CMD...
	local name=$1 start=$SECONDS rc
	shift
	echo "== $name"
	"$@" >"$steps/$name.log" 2>&1
	rc=$?
	echo "$rc $((SECONDS - start))" >"$steps/$name.rc"
	return $rc
}
step_rc() { # NAME: the step's exit status; "-" if it did not run
	local rc=-
	[ -f "$steps/$1.rc" ] && read -r rc _ <"$steps/$1.rc"
	echo "$rc"
}
step_failed() { # NAME: counts a build step that ran and failed as one failed test
	local rc
	rc=$(step_rc "$1")
	[ "$rc" = - ] || [ "$rc" -eq 0 ] && return 1
	echo "test.sh: step failed: $1 (exit $rc); the end of $steps/$1.log:" >&2
	tail -30 "$steps/$1.log" >&2
	failed=$((failed + 1))
}

# ---- counting -------------------------------------------------------------------------------
count_suite() { # adds the totals of a test-suite.log
	local log=$1 p f k dir t
	if [ ! -f "$log" ]; then
		echo "test.sh: no $log: the test run did not happen" >&2
		failed=$((failed + 1))
		return
	fi
	dir=$(dirname "$log")
	p=$(awk '/^# PASS:/ {print $3}' "$log")
	f=$(awk '/^# (FAIL|XPASS|ERROR):/ {s += $3} END {print s + 0}' "$log")
	k=$(awk '/^# SKIP:/ {print $3}' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	skipped=$((skipped + ${k:-0}))
	# Show what failed, so a CI log is enough to start from.
	if [ "${f:-0}" -gt 0 ]; then
		grep -E '^(FAIL|ERROR|XPASS):' "$log" >&2 || true
		for t in $(sed -n 's/^\(FAIL\|ERROR\): \([^ ]*\).*/\2/p' "$log" | sort -u); do
			[ -f "$dir/$t.log" ] && { echo "---- $t.log"; tail -40 "$dir/$t.log"; } >&2
		done
	fi
}
skips_of_tree() { # lists what skipped in a build tree; in CI, whole e2e suites that skipped fail
	local dir=$1 t
	# The TAP driver writes "SKIP: SUITE [N - CASE] # SKIP REASON" into each suite's own log.
	while IFS= read -r t; do
		skips+=("$t")
	done < <(find "$dir/tests" -name '*.log' -exec grep -h '^SKIP: ' {} + 2>/dev/null | sed 's/^SKIP: //' | sort)
	# In CI a whole end-to-end suite that skipped proves nothing: it fails.
	if [ "${CI:-}" = true ]; then
		for t in "$dir"/tests/e2e/*.sh.log; do
			[ -f "$t" ] || continue
			if grep -q '^1\.\.0' "$t"; then
				echo "test.sh: ${t#"$dir"/} skipped whole in CI: $(grep -m1 '^1\.\.0' "$t")" >&2
				failed=$((failed + 1))
			fi
		done
	fi
}
count_tap() { # counts the ok / not ok lines of a TAP script's output; no plan is a failure
	local out=$1 p f k
	p=$(grep '^ok ' "$out" | grep -vc '# SKIP')
	k=$(grep '^ok ' "$out" | grep -c '# SKIP')
	f=$(grep -c '^not ok ' "$out")
	grep -q '^1\.\.[0-9]' "$out" || f=$((f + 1))
	if grep -q '^1\.\.0' "$out"; then
		skips+=("$out: $(grep -m1 '^1\.\.0' "$out")")
		[ "${CI:-}" = true ] && f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + k))
	[ "$k" -eq 0 ] || while read -r line; do skips+=("$out: $line"); done < <(grep '^ok .*# SKIP' "$out")
	[ "$f" -eq 0 ] || grep -v '^ok ' "$out" | tail -40 >&2
}

# ---- the build --------------------------------------------------------------------------------
if ! run autogen ./autogen.sh; then
	step_failed autogen
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi
# ---- the lane beside the end-to-end tests -------------------------------------------------------
# It starts at once: the sanitizer tree's configure needs nothing of the main build, and the
# steps that use the main tree wait for it.
main_built() { # waits for the main build; true if it succeeded
	while [ ! -f "$steps/main-built" ]; do sleep 1; done
	[ "$(cat "$steps/main-built")" = true ]
}
side_lane() {
	local asan
	rm -rf _build-asan && mkdir _build-asan
	run configure-asan sh -c "cd _build-asan && ../configure DNSJAIL_SKIP_E2E=1 \
		CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer' LDFLAGS='-fsanitize=address,undefined'"
	asan=$?
	main_built && run check-fast make -C _build -j$jobs check-fast
	[ "$asan" -eq 0 ] && run build-asan make -C _build-asan -j$jobs &&
		run check-asan env DNSJAIL_FUZZ_SECONDS=0 ASAN_OPTIONS=detect_leaks=1 \
			make -C _build-asan -j$jobs check
	run distcheck env DNSJAIL_FUZZ_SECONDS=0 make -C _build -j$jobs distcheck
	# Without its tests (nocheck): the same unit tests and fuzz corpora ran in the three trees
	# above.
	run build-deb env DEB_BUILD_OPTIONS="nocheck parallel=$jobs" scripts/build-deb.sh
}
(
	renice -n 10 -p "$BASHPID" >/dev/null
	side_lane
) &
side=$!

# ---- the main build ---------------------------------------------------------------------------
# The tests' own programs are built here too: both lanes then only read this tree's binaries.
built=false
run configure sh -c "cd _build && ../configure --enable-werror --prefix=/usr \
	--sysconfdir=/etc --localstatedir=/var --runstatedir=/run" &&
	run build make -C _build -j$jobs all check-programs && built=true
echo "$built" >"$steps/main-built"

# ---- the end-to-end lane ----------------------------------------------------------------------
$built && run check-e2e make -C _build check-e2e
wait "$side"
# Replacing the package under a running jailed container keeps the jail (installs the package
# on this machine for the test and purges it afterwards).
if [ "$(step_rc build-deb)" = 0 ]; then
	run package-upgrade env DNSJAIL_DEB="$(ls _build-deb/dnsjail_*.deb | grep -v dbgsym | head -1)" \
		top_builddir="$top/_build" tests/e2e/package-upgrade.sh
fi

# ---- the totals ---------------------------------------------------------------------------------
step_failed configure
step_failed build
if $built; then
	count_suite _build/test-suite-fast.log
	count_suite _build/test-suite-e2e.log
	skips_of_tree _build
fi
step_failed configure-asan
if ! step_failed build-asan && [ "$(step_rc configure-asan)" = 0 ]; then
	count_suite _build-asan/test-suite.log
	skips_of_tree _build-asan
fi
case $(step_rc distcheck) in
0) passed=$((passed + 1)) ;;
*) step_failed distcheck ;;
esac
[ "$(step_rc build-deb)" = 0 ] && count_tap "$steps/package-upgrade.log"
step_failed build-deb

echo "step              status  seconds"
for s in autogen configure build check-e2e check-fast configure-asan build-asan check-asan \
	distcheck build-deb package-upgrade; do
	if [ -f "$steps/$s.rc" ]; then
		read -r rc secs <"$steps/$s.rc"
		printf '%-17s %6s %8s\n' "$s" "$rc" "$secs"
	else
		printf '%-17s %6s\n' "$s" "-"
	fi
done
printf '%-17s %6s %8s\n' total "" "$SECONDS"
if [ ${#skips[@]} -gt 0 ]; then
	echo "skipped (not passed):"
	printf '  %s\n' "${skips[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
