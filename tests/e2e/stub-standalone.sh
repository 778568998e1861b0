#!/bin/bash
# stub-standalone.sh: runs dnsjail-dnsstub on its own (--listen on 127.0.0.1, --user nobody)
# under its real seccomp filter and checks what it answers, what it logs, how it limits the
# log, its privileges, its control socket and every way it exits. Every path here runs under
# the seccomp allowlist, so a missing syscall shows up as a stub killed by SIGSYS.
# Only loopback traffic. Output is TAP; the plan comes last.

script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/tap.sh
. "$script_dir/tap.sh"
# shellcheck source=tests/e2e/daemon.sh
. "$script_dir/daemon.sh"
top_builddir=${top_builddir:-$script_dir/../..}
top_srcdir=${top_srcdir:-$script_dir/../..}
stub=$top_builddir/dnsstub/dnsjail-dnsstub


[ "$(id -u)" = 0 ] || tap_skip_all "needs root (drops to nobody like the hook does)"
for cmd in dig python3 timeout; do
    command -v "$cmd" >/dev/null 2>&1 || tap_skip_all "$cmd is not installed"
done
[ -x "$stub" ] || tap_skip_all "$stub is not built"
id nobody >/dev/null 2>&1 || tap_skip_all "there is no user nobody"

WORK=$(mktemp -d /tmp/djt-stub.XXXXXX) || tap_bail "cannot create a temporary directory"
chmod 755 "$WORK"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---- python helpers: exact bytes on the wire, fd passing, JSON checks -----------------------
STUBTOOL=$script_dir/lib/stubtool.py
tool() { /usr/bin/python3 "$STUBTOOL" "$@"; }


PORT=$(tool free-port) || tap_bail "no free port"
LOG=$WORK/query.log
CTL=$WORK/control.sock

# ---- start the main stub -----------------------------------------------------------------
/usr/bin/python3 "$STUBTOOL" launch "$CTL" - "$stub" --listen "127.0.0.1:$PORT" --user nobody --log-file "$LOG" \
    --container-id e2e-ctr --control-fd "{CTL}" --ready-fd 5 --ttl 7 \
    5>"$WORK/ready" 2>"$WORK/stderr" &
STUB_PID=$!
PIDS+=("$STUB_PID")
ready=$(wait_ready "$WORK/ready")
if [ "$ready" = R ]; then
    tap_ok "stub reported ready on --ready-fd"
else
    tap_not_ok "stub reported ready on --ready-fd (got '$ready')"
    tap_diag <"$WORK/stderr"
    tap_done
fi

dig_stub() { dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 "$@"; }

# ---- answers -----------------------------------------------------------------------------
out=$(dig_stub +short www.example.com A)
tap_check "A gets the sinkhole 6.6.6.6" [ "$out" = 6.6.6.6 ]

out=$(dig_stub www.example.com A +noall +answer)
tap_check "A answer carries the TTL from --ttl" grep -Eq '^www\.example\.com\.[[:space:]]+7[[:space:]]+IN[[:space:]]+A[[:space:]]+6\.6\.6\.6$' <<<"$out"

out=$(dig_stub www.example.com AAAA)
if grep -q 'status: NOERROR' <<<"$out" && grep -q 'ANSWER: 0,' <<<"$out"; then
    tap_ok "AAAA gets NOERROR without an answer"
else
    tap_not_ok "AAAA gets NOERROR without an answer"
    tap_diag <<<"$out"
fi

out=$(dig_stub example.com TXT)
if grep -q 'status: NOERROR' <<<"$out" && grep -q 'ANSWER: 0,' <<<"$out" &&
    grep -q 'flags: qr rd ra;' <<<"$out"; then
    tap_ok "TXT gets NODATA (NOERROR, no answer; qr rd ra)"
else
    tap_not_ok "TXT gets NODATA"
    tap_diag <<<"$out"
fi

out=$(dig_stub +tcp +short tcp.example.com A)
tap_check "A over TCP gets 6.6.6.6" [ "$out" = 6.6.6.6 ]

out=$(dig_stub +tcp +keepopen +short one.example A two.example A three.example A)
tap_check "three queries on one TCP connection (dig +keepopen)" [ "$out" = $'6.6.6.6\n6.6.6.6\n6.6.6.6' ]

if out=$(tool pipeline 127.0.0.1 "$PORT" 50 2>&1); then
    tap_ok "50 pipelined queries in one TCP write get 50 answers in order"
else
    tap_not_ok "50 pipelined queries in one TCP write get 50 answers in order"
    tap_diag <<<"$out"
fi

out=$(tool malformed 127.0.0.1 "$PORT" 2>&1)
expected="short=none response=none truncated-name=rcode1 pointer-loop=rcode1 label-64=rcode1 qdcount-2=rcode1 update=rcode4"
if [ "$out" = "$expected" ]; then
    tap_ok "malformed packets: FORMERR, NOTIMP or nothing"
else
    tap_not_ok "malformed packets: FORMERR, NOTIMP or nothing"
    tap_diag <<<"got: $out"
fi
out=$(dig_stub +short after.malformed.example A)
tap_check "stub still answers after the malformed packets" [ "$out" = 6.6.6.6 ]

# ---- privileges --------------------------------------------------------------------------
status=$(cat "/proc/$STUB_PID/status" 2>/dev/null)
field() { awk -v k="$1:" '$1 == k {print $2}' <<<"$status"; }
tap_check "stub runs as nobody" [ "$(field Uid)" = "$(id -u nobody)" ]
tap_check "stub has no capabilities (CapEff and CapPrm 0)" \
    [ "$(field CapEff)" = 0000000000000000 -a "$(field CapPrm)" = 0000000000000000 ]
tap_check "stub has NoNewPrivs 1 and Seccomp 2 (filter)" [ "$(field NoNewPrivs)" = 1 -a "$(field Seccomp)" = 2 ]

# ---- log ---------------------------------------------------------------------------------
if out=$(tool check-log "$LOG" e2e-ctr 2>&1); then
    tap_ok "every log line is JSON; dns_query lines have the documented fields"
else
    tap_not_ok "every log line is JSON; dns_query lines have the documented fields"
    tap_diag <<<"$out"
fi
tap_check "A query logged with qtype, rcode and answer" tool find-line "$LOG" \
    'event="dns_query"' 'qname="www.example.com"' 'qtype="A"' 'rcode="NOERROR"' \
    'answer="6.6.6.6"' 'proto="udp"' 'container="e2e-ctr"'
tap_check "TXT query logged with answer null" tool find-line "$LOG" \
    'event="dns_query"' 'qname="example.com"' 'qtype="TXT"' 'answer=null'
tap_check "TCP query logged as proto tcp" tool find-line "$LOG" 'qname="tcp.example.com"' 'proto="tcp"'
tap_check "malformed packet logged as dns_malformed" tool find-line "$LOG" \
    'event="dns_malformed"' 'rcode="FORMERR"' 'proto="udp"'
tap_check "dropped packet logged as dns_malformed with rcode null" tool find-line "$LOG" \
    'event="dns_malformed"' 'rcode=null' 'reason="a response, not a query"'

# ---- control socket ----------------------------------------------------------------------
out=$(tool control "$CTL" P 2>&1)
tap_check "control P (ping) gets K" [ "$out" = K ]
out=$(tool control "$CTL" X 2>&1)
tap_check "control: an unknown request gets no K" [ "$out" = none ]
tap_check "stub alive after the control requests" alive "$STUB_PID"

# ---- log flood ---------------------------------------------------------------------------
# Refill the bucket first (400 burst at 200/s: 2 s), then 5000 queries as fast as possible.
sleep 2
before=$(wc -l <"$LOG")
out=$(tool flood 127.0.0.1 "$PORT" 5000)
read -r seconds answers <<<"$out"
seconds=${seconds:-0}
answers=${answers:-0}
sleep 1.6 # the summary comes within a second of the flood
after=$(wc -l <"$LOG")
lines=$((after - before))
# At most the burst, the refill during the flood, and the summary lines (one a second).
bound=$(python3 -c "import math; print(400 + math.ceil(200 * $seconds) + math.ceil($seconds) + 3)")
if [ "$lines" -le "$bound" ] && [ "$lines" -ge 400 ]; then
    tap_ok "flood of 5000 queries ($answers answered in ${seconds}s) wrote $lines log lines (400..$bound)"
else
    tap_not_ok "flood of 5000 queries wrote $lines log lines, want 400..$bound"
fi
summary=$(tail -n +"$((before + 1))" "$LOG" | grep '"event":"log_suppressed"')
count=$(sed -n 's/.*"count":\([0-9]*\).*/\1/p' <<<"$summary" | awk '{s += $1} END {print s + 0}')
queries=$(tail -n +"$((before + 1))" "$LOG" | grep -c '"event":"dns_query"')
if [ -n "$summary" ] && [ "${count:-0}" -gt 0 ] && [ $((count + queries)) -le 5000 ] &&
    [ $((count + queries)) -ge "$answers" ]; then
    tap_ok "flood: log_suppressed lines count the rest ($queries logged + $count suppressed, $answers answered)"
else
    tap_not_ok "flood: log_suppressed summary (logged $queries, suppressed ${count:-none}, answered $answers)"
fi
tap_check "stub alive after the flood" alive "$STUB_PID"

# ---- quit ----------------------------------------------------------------------------------
out=$(tool control "$CTL" Q 2>&1)
tap_check "control Q gets K, then EOF" [ "$out" = "K eof" ]
wait_exit "$STUB_PID" 30
tap_check "stub exits 0 after Q (status $exit_status)" [ "$exit_status" = 0 ]

# ---- watched processes ---------------------------------------------------------------------
PORT2=$(tool free-port) || tap_bail "no free port"
sleep 300 &
SLEEP1=$!
sleep 300 &
SLEEP2=$!
PIDS+=("$SLEEP1" "$SLEEP2")
/usr/bin/python3 "$STUBTOOL" launch "$WORK/control2.sock" "$SLEEP1" "$stub" --listen "127.0.0.1:$PORT2" --user nobody \
    --watch-pidfd "{PIDFD}" --control-fd "{CTL}" --log-fd 6 --ready-fd 5 \
    5>"$WORK/ready2" 6>>"$WORK/query2.log" 2>"$WORK/stderr2" &
STUB2=$!
PIDS+=("$STUB2")
ready=$(wait_ready "$WORK/ready2")
tap_check "second stub (--watch-pidfd, --log-fd) ready" [ "$ready" = R ]
out=$(tool control "$WORK/control2.sock" W "$SLEEP2" 2>&1)
tap_check "control W with a pidfd gets K" [ "$out" = K ]
kill "$SLEEP1"
wait "$SLEEP1" 2>/dev/null
# A ping answered after the exit proves the stub went past it: the pidfd was readable before
# the ping connected, and the stub handles every event of one epoll wake-up before the next.
out=$(tool control "$WORK/control2.sock" P 2>&1)
tap_check "stub keeps serving while one watched process is left" eval '[ "$out" = K ] && alive "$STUB2"'
out=$(dig @127.0.0.1 -p "$PORT2" +time=2 +tries=1 +short still.here A)
tap_check "... and answers" [ "$out" = 6.6.6.6 ]
kill "$SLEEP2"
wait "$SLEEP2" 2>/dev/null
wait_exit "$STUB2" 30
tap_check "stub exits 0 once every watched process has exited (status $exit_status)" [ "$exit_status" = 0 ]
tap_check "--log-fd received the query line" tool find-line "$WORK/query2.log" 'qname="still.here"'

# ---- signals and startup failures ------------------------------------------------------------
PORT3=$(tool free-port) || tap_bail "no free port"
"$stub" --listen "127.0.0.1:$PORT3" --user nobody --ready-fd 5 5>"$WORK/ready3" 2>/dev/null &
STUB3=$!
PIDS+=("$STUB3")
ready=$(wait_ready "$WORK/ready3")
"$stub" --listen "127.0.0.1:$PORT3" --user nobody --ready-fd 5 5>"$WORK/ready4" 2>"$WORK/stderr4"
rc=$?
if [ "$rc" != 0 ] && grep -q '^Ebind 127\.0\.0\.1' "$WORK/ready4" && [ "$(wc -l <"$WORK/stderr4")" = 1 ]; then
    tap_ok "a port in use: exit $rc, one line on stderr, E+reason on the ready fd"
else
    tap_not_ok "a port in use: exit $rc, ready '$(cat "$WORK/ready4")'"
    tap_diag <"$WORK/stderr4"
fi
"$stub" --listen 127.0.0.1:1 --ready-fd 5 5>"$WORK/ready5" 2>/dev/null
rc=$?
tap_check "refuses to serve as root without --user (exit $rc)" \
    grep -q '^Erefusing to serve as root' "$WORK/ready5"
tap_check "third stub ready" [ "$ready" = R ]
# ---- --config-fd: the hook's settings ---------------------------------------------------
# The hook hands every setting over in one configuration (lib/daemonconf.h, a sealed memfd; here
# a file, which the stub reads the same way from its start). What it says is served; a
# configuration the stub does not understand stops it before it serves, with the reason on the
# ready fd, whatever the rest of the text says.
PORT4=$(tool free-port) || tap_bail "no free port"
printf 'dnsjail-daemon-config 1\nttl 9\nsinkhole-ipv4 192.0.2.9\n' >"$WORK/good.conf"
"$stub" --listen "127.0.0.1:$PORT4" --user nobody --ready-fd 5 --config-fd 6 \
    5>"$WORK/ready6" 6<"$WORK/good.conf" 2>/dev/null &
STUB4=$!
PIDS+=("$STUB4")
tap_check_out "stub with --config-fd ready" R "$(wait_ready "$WORK/ready6")"
out=$(dig @127.0.0.1 -p "$PORT4" +time=2 +tries=1 cfg.example A +noall +answer)
tap_check "--config-fd: the sinkhole and TTL it names answer" \
    grep -Eq '^cfg\.example\.[[:space:]]+9[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.9$' <<<"$out"
kill -TERM "$STUB4"
wait_exit "$STUB4" 30
config_refused() { # DESCRIPTION TEXT REASON: the stub exits 1 with REASON on the ready fd
    printf "$2" >"$WORK/bad.conf"
    "$stub" --listen "127.0.0.1:$PORT4" --user nobody --ready-fd 5 --config-fd 6 \
        5>"$WORK/ready7" 6<"$WORK/bad.conf" 2>/dev/null
    local rc=$?
    if [ "$rc" = 1 ] && grep -q "^E.*$3" "$WORK/ready7"; then
        tap_ok "--config-fd refused: $1"
    else
        tap_not_ok "--config-fd refused: $1 (exit $rc, ready '$(cat "$WORK/ready7")')"
    fi
}
config_refused "another version" 'dnsjail-daemon-config 2\nttl 9\n' 'is version 2; this daemon reads version 1'
config_refused "an unknown key" 'dnsjail-daemon-config 1\nttl 9\nno-such-key 1\n' 'unknown key "no-such-key"'
config_refused "a key of the proxy" 'dnsjail-daemon-config 1\nmax-connections 5\n' 'sets max-connections, which dnsjail-dnsstub does not take'
config_refused "a value the option refuses" 'dnsjail-daemon-config 1\nttl soon\n' "--ttl: 'soon' is not a number"
config_refused "a truncated text" 'dnsjail-daemon-config 1\nttl 9' 'does not end with a newline'

kill -TERM "$STUB3"
wait_exit "$STUB3" 30
tap_check "SIGTERM: clean exit 0 (status $exit_status)" [ "$exit_status" = 0 ]

tap_done
