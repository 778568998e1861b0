#!/bin/bash
# system-log.sh: the hook and the daemons also send their lines to the system log. A receiver
# here stands in for journald (its native protocol on a datagram socket) and for a syslog
# daemon (RFC 3164 on /dev/log): with `system-log = journal:PATH`, `journalctl
# CONTAINER_ID=<12 chars>` would find the jail's lines next to podman's own; with
# `syslog:PATH` the lines carry the program and its pid; with `off` nothing is sent.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig
world_require_build
world_up

# Records every datagram as one line of JSON (a list of its bytes as text).
RECV=$W_E2E_DIR/lib/syslogrecv.py
receive() { # SOCKET OUTFILE
    /usr/bin/python3 "$RECV" receive "$1" "$2" &
    W_PIDS+=($!)
    wait_until 5 test -e "$2.ready" || tap_bail "the receiver did not start"
}

# Runs a jailed container that asks for NAME twice (the second proves the stub survived
# sending to the system log under its seccomp filter).
jailed_queries() { # ID NAME
    local b
    world_ctns "$1" || return 1
    b=$(world_bundle "$W_ID-$1" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --annotation io.dnsjail.enable=true -- /usr/bin/python3 /probe.py \
        "dns|first|$2|A|-|udp" "dns|second|again-$2|A|-|udp") || return 1
    run_runc "$W_ID-$1" "$b"
}
# The datagrams in FILE that contain every one of the STRINGS.
has() { /usr/bin/python3 "$RECV" has "$@"; } # FILE STRING...

# ---- journald's native protocol -----------------------------------------------------------
JOURNAL=$W_TMP/journal.out
receive "$W_TMP/journal.sock" "$JOURNAL"
world_dnsjail_conf "system-log = journal:$W_TMP/journal.sock" || tap_bail "config"
name=sl-$(world_random).attacker.test
jailed_queries journal "$name"
id=$W_ID-journal
tap_check "journal: the jailed container ran and got the sinkhole" \
    probe_is "$RUN_OUT" first answers A:6.6.6.6 || tap_diag_file "$RUN_ERR" 5
tap_check "journal: the stub still answers after sending (seccomp)" \
    probe_is "$RUN_OUT" second answers A:6.6.6.6
wait_until 5 has "$JOURNAL" "SYSLOG_IDENTIFIER=dnsjail-dnsstub" "$name"
tap_check "journal: the stub's query line arrived as MESSAGE=, with its identifier" \
    has "$JOURNAL" "SYSLOG_IDENTIFIER=dnsjail-dnsstub" "MESSAGE={" "\"qname\":\"$name\"" ||
    tap_diag_file "$JOURNAL" 5
tap_check "journal: with CONTAINER_ID (12 characters, as podman's) and CONTAINER_ID_FULL" \
    has "$JOURNAL" "CONTAINER_ID=${id:0:12}"$'\n' "CONTAINER_ID_FULL=$id"$'\n' "$name"
tap_check "journal: priority info" has "$JOURNAL" $'PRIORITY=6\n' "$name"
tap_check "journal: the hook's own events arrive too" \
    has "$JOURNAL" "SYSLOG_IDENTIFIER=dnsjail-hook" '"event":"jail_started"' "$id"
# Native protocol: KEY=VALUE fields one per line, the message last and on one line.
well_formed() { /usr/bin/python3 "$RECV" journal-form "$1"; } # FILE
tap_check "journal: every datagram is KEY=VALUE lines, MESSAGE last and on one line" \
    well_formed "$JOURNAL" || tap_diag_file "$JOURNAL" 3

# ---- syslog (RFC 3164, as /dev/log takes it) ----------------------------------------------
SYSLOG=$W_TMP/syslog.out
receive "$W_TMP/syslog.sock" "$SYSLOG"
world_dnsjail_conf "system-log = syslog:$W_TMP/syslog.sock" || tap_bail "config"
name=sl-$(world_random).attacker.test
jailed_queries syslog "$name"
wait_until 5 has "$SYSLOG" "$name"
tap_check "syslog: '<30>dnsjail-dnsstub[PID]: ' then the JSON line" \
    /usr/bin/python3 "$RECV" syslog-line "$SYSLOG" "$name" || tap_diag_file "$SYSLOG" 5

# ---- off: the control ---------------------------------------------------------------------
: >"$JOURNAL"
world_dnsjail_conf "system-log = off" || tap_bail "config"
name=sl-$(world_random).attacker.test
jailed_queries off "$name"
tap_check "off: the container ran jailed" probe_is "$RUN_OUT" first answers A:6.6.6.6
# The hook's poststop has stopped the daemons when the runtime returns: whatever they sent is
# queued before a marker sent now, so once the marker is recorded, so is everything before it.
marker=marker-$(world_random)
/usr/bin/python3 "$RECV" send "$W_TMP/journal.sock" "$marker"
wait_until 5 has "$JOURNAL" "$marker" || tap_bail "the receiver did not record the marker"
tap_check "off: nothing reached the receiver" /usr/bin/python3 "$RECV" only "$JOURNAL" "$marker" ||
    tap_diag_file "$JOURNAL" 3
tap_check "off: the log file still has the query" grep -q "\"qname\":\"$name\"" "$W_LOG"

# ---- a socket that is not there: the container still starts, the log file says why ---------
world_dnsjail_conf "system-log = journal:$W_TMP/nobody-listens.sock" || tap_bail "config"
jailed_queries missing "sl-$(world_random).attacker.test"
tap_check "missing socket: the container still runs jailed" probe_is "$RUN_OUT" first answers A:6.6.6.6
tap_check "missing socket: the log file records it" grep -q '"event":"system_log_unavailable"' "$W_LOG"
tap_done
