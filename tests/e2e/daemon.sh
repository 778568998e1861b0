# daemon.sh: for the scripts that start one of dnsjail's daemons by hand, without a runtime
# (stub-standalone.sh, proxy-standalone.sh): wait for its ready file, wait for it to exit.

# Waits up to 30 s for the ready file to hold something; prints it. A loaded CI host can take
# seconds to start a sandboxed daemon.
wait_ready() {
    local file=$1 _
    for _ in $(seq 300); do
        [ -s "$file" ] && break
        sleep 0.1
    done
    cat "$file" 2>/dev/null
}

# Waits up to $2 tenths of a second for pid $1 to exit; its status goes into $exit_status.
# A zombie counts as exited: it is the caller's child and `wait` reaps it.
wait_exit() {
    local pid=$1 tenths=${2:-30} _
    for _ in $(seq "$tenths"); do
        if ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            wait "$pid"
            exit_status=$?
            return 0
        fi
        sleep 0.1
    done
    # shellcheck disable=SC2034 # read by the sourcing script
    exit_status=timeout
    return 1
}

alive() { kill -0 "$1" 2>/dev/null; }
