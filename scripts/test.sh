#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine (run as root: the end-to-end tests start
# real containers in network namespaces they create):
#   1. installs what is missing (apt-get),
#   2. builds with -Werror and runs `make check`: unit tests, fuzzers on their corpora, and the
#      end-to-end tests with runc, crun and podman,
#   3. builds again with AddressSanitizer and UndefinedBehaviorSanitizer and runs the unit and
#      fuzz tests there,
#   4. runs `make distcheck` (unit and fuzz tests only),
#   5. builds the Debian package and checks that replacing it keeps a running container jailed,
# and ends with one line "N passed, N failed". Build trees: _build/, _build-asan/, _build-deb/.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=2

scripts/install-deps.sh test || exit 1

passed=0
failed=0
exec 3>&1 # the steps' headers go here even when a step's own output is redirected
count_suite() { # adds the totals of a test-suite.log
	local log=$1 p f
	if [ ! -f "$log" ]; then
		echo "test.sh: no $log: the test run did not happen" >&2
		failed=$((failed + 1))
		return
	fi
	p=$(awk '/^# PASS:/ {print $3}' "$log")
	f=$(awk '/^# (FAIL|XPASS|ERROR):/ {s += $3} END {print s + 0}' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	# Show what failed, so a CI log is enough to start from.
	if [ "${f:-0}" -gt 0 ]; then
		grep -E '^(FAIL|ERROR|XPASS):' "$log" >&2 || true
		for t in $(sed -n 's/^\(FAIL\|ERROR\): \([^ ]*\).*/\2/p' "$log" | sort -u); do
			[ -f "$(dirname "$log")/$t.log" ] && { echo "---- $t.log"; tail -40 "$(dirname "$log")/$t.log"; } >&2
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

step "autogen" ./autogen.sh >/dev/null || { echo "$passed passed, $failed failed"; exit 1; }

# 1. the real build, every test
rm -rf _build && mkdir _build
if step "configure" sh -c "cd _build && ../configure --enable-werror --prefix=/usr \
	--sysconfdir=/etc --localstatedir=/var --runstatedir=/run >/dev/null" &&
	step "build" make -C _build -j$jobs >/dev/null; then
	echo "== make check"
	# One test at a time: the end-to-end tests measure how fast things fail.
	make -C _build -j1 check >/dev/null 2>&1
	count_suite _build/test-suite.log
fi

# 2. sanitizers on the unit and fuzz tests
rm -rf _build-asan && mkdir _build-asan
if step "configure (asan+ubsan)" sh -c "cd _build-asan && ../configure DNSJAIL_SKIP_E2E=1 \
	CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer' LDFLAGS='-fsanitize=address,undefined' >/dev/null" &&
	step "build (asan+ubsan)" make -C _build-asan -j$jobs >/dev/null; then
	echo "== make check (asan+ubsan)"
	DNSJAIL_FUZZ_SECONDS=5 ASAN_OPTIONS=detect_leaks=1 make -C _build-asan -j$jobs check >/dev/null 2>&1
	count_suite _build-asan/test-suite.log
fi

# 3. the release tarball builds and passes its tests
if step "make distcheck" make -C _build -j$jobs distcheck >_build/distcheck.log 2>&1; then
	passed=$((passed + 1))
else
	tail -30 _build/distcheck.log >&2
fi

# 4. the Debian package builds, and replacing it under a running jailed container keeps the
#    jail (installs the package on this machine for the test and purges it afterwards)
count_tap() { # counts the ok / not ok lines of a TAP script's output; no plan is a failure
	local out=$1 p f
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	grep -q '^1\.\.[0-9]' "$out" || f=$((f + 1))
	passed=$((passed + p))
	failed=$((failed + f))
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
