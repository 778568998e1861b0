#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine (run as root: the end-to-end tests start
# real containers in network namespaces they create):
#   1. installs what is missing (apt-get),
#   2. builds with -Werror and runs `make check` in two halves: unit tests, fuzzers, CLI and doc
#      tests in parallel (check-fast), then the end-to-end tests with runc, crun and podman one
#      at a time (check-e2e),
#   3. builds again with AddressSanitizer and UndefinedBehaviorSanitizer and runs the unit and
#      fuzz tests there (the fuzzers only replay their corpora there and in distcheck),
#   4. runs `make distcheck` (unit and fuzz tests only),
#   5. builds the Debian package and checks that replacing it keeps a running container jailed,
# and ends with one line "N passed, N failed, N skipped", after the list of what skipped. A skip
# is not a pass; with CI=true an end-to-end suite that skips whole counts as failed. Build trees:
# _build/, _build-asan/, _build-deb/.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=2

scripts/install-deps.sh test || exit 1

passed=0
failed=0
skipped=0
skips=() # "suite: reason" of everything that skipped, printed before the totals
exec 3>&1 # the steps' headers go here even when a step's own output is redirected
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
step() { # runs a build step; a failure counts as one failed test
	local name=$1; shift
	echo "== $name" >&3
	if ! "$@"; then
		echo "test.sh: step failed: $name" >&2
		failed=$((failed + 1))
		return 1
	fi
}

step "autogen" ./autogen.sh >/dev/null || { echo "$passed passed, $failed failed, $skipped skipped"; exit 1; }

# 1. the real build, every test
rm -rf _build && mkdir _build
if step "configure" sh -c "cd _build && ../configure --enable-werror --prefix=/usr \
	--sysconfdir=/etc --localstatedir=/var --runstatedir=/run >/dev/null" &&
	step "build" make -C _build -j$jobs >/dev/null; then
	echo "== make check-fast (unit, fuzz, CLI and doc tests, in parallel)"
	make -C _build -j$jobs check-fast >/dev/null 2>&1
	count_suite _build/test-suite-fast.log
	echo "== make check-e2e (one suite at a time: they measure how fast things fail)"
	make -C _build check-e2e >/dev/null 2>&1
	count_suite _build/test-suite-e2e.log
	skips_of_tree _build
fi

# 2. sanitizers on the unit and fuzz tests
rm -rf _build-asan && mkdir _build-asan
if step "configure (asan+ubsan)" sh -c "cd _build-asan && ../configure DNSJAIL_SKIP_E2E=1 \
	CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer' LDFLAGS='-fsanitize=address,undefined' >/dev/null" &&
	step "build (asan+ubsan)" make -C _build-asan -j$jobs >/dev/null; then
	echo "== make check (asan+ubsan)"
	# The fuzzers had their time in the main tree (built with ASan and UBSan there too): replay.
	DNSJAIL_FUZZ_SECONDS=0 ASAN_OPTIONS=detect_leaks=1 make -C _build-asan -j$jobs check >/dev/null 2>&1
	count_suite _build-asan/test-suite.log
	skips_of_tree _build-asan
fi

# 3. the release tarball builds and passes its tests
if step "make distcheck" env DNSJAIL_FUZZ_SECONDS=0 make -C _build -j$jobs distcheck >_build/distcheck.log 2>&1; then
	passed=$((passed + 1))
else
	tail -30 _build/distcheck.log >&2
fi

# 4. the Debian package builds, and replacing it under a running jailed container keeps the
#    jail (installs the package on this machine for the test and purges it afterwards)
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
if step "build-deb" sh -c "scripts/build-deb.sh >_build/deb.log 2>&1"; then
	echo "== package upgrade"
	DNSJAIL_DEB=$(ls _build-deb/dnsjail_*.deb | grep -v dbgsym | head -1) top_builddir=$top/_build \
		tests/e2e/package-upgrade.sh >_build/package-upgrade.log 2>&1
	count_tap _build/package-upgrade.log
else
	tail -30 _build/deb.log >&2
fi

if [ ${#skips[@]} -gt 0 ]; then
	echo "skipped (not passed):"
	printf '  %s\n' "${skips[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
