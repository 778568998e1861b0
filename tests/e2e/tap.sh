# tap.sh: TAP output for the tests/e2e scripts (sourced; world.sh sources it too).
#
# One counter, one failure count, one way to end: a script calls tap_check/tap_check_out for
# each case and ends with tap_done, which prints the plan (unless tap_plan gave it first) and
# exits non-zero when any case failed. Anything a checked command prints goes to stderr, so it
# can never be read as a TAP line.

# The machine's own tools first, the ones the containers see through the bound /usr: a shim a
# user's PATH puts before them (pyenv's python3) is another interpreter, and costs a second a
# call, which the suites pay hundreds of times.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

TAP_N=0
TAP_FAILED=0
TAP_PLANNED=

tap_plan() { TAP_PLANNED=$1; echo "1..$1"; }
# Prints its arguments, or its standard input when it has none, as TAP diagnostics.
tap_diag() {
    local line
    if [ $# -eq 0 ]; then
        while IFS= read -r line; do echo "# $line"; done
    else
        while IFS= read -r line; do echo "# $line"; done <<<"$*"
    fi
}
tap_result() { # RC DESCRIPTION
    TAP_N=$((TAP_N + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $TAP_N - $2"
    else
        echo "not ok $TAP_N - $2"
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
    return "$1"
}
tap_ok() { tap_result 0 "$*"; }
tap_not_ok() { tap_result 1 "$*"; }
tap_check() { # DESCRIPTION CMD ARGS...: ok when CMD succeeds (its stdout goes to stderr)
    local desc=$1
    shift
    "$@" >&2
    tap_result $? "$desc"
}
tap_check_out() { # DESCRIPTION EXPECTED ACTUAL: ok when they are equal, else both as diagnostics
    if [ "$2" = "$3" ]; then
        tap_result 0 "$1"
    else
        tap_result 1 "$1"
        printf 'expected: %s\n     got: %s\n' "$2" "$3" | tap_diag
        return 1
    fi
}
tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP ${2:-}"; }
# Skips the whole script: a prerequisite is missing. In CI (CI=true) the machine is set up for
# every suite, so a world that cannot be set up is a failure there, whoever runs the script.
tap_skip_all() {
    if [ "${CI:-}" = true ]; then
        echo "Bail out! cannot set up (CI=true, not a skip): $*"
        exit 99
    fi
    echo "1..0 # SKIP $*"
    exit 0
}
tap_bail() { echo "Bail out! $*"; exit 99; }
tap_done() {
    [ -n "$TAP_PLANNED" ] || echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
    exit $?
}
# Prints a file (or the tail of it) as TAP diagnostics.
tap_diag_file() { # FILE [LINES]
    [ -s "$1" ] || return 0
    echo "# --- $1"
    tail -n "${2:-20}" "$1" | sed 's/^/#   /'
}
