#!/bin/bash
# rootless.sh: dnsjail under a real rootless podman, run by an unprivileged user this test
# creates (and removes). There the hook runs in podman's user namespace: it must keep the
# user's uid, put its state and log under the user's home, leave the daemons without any
# capability, under seccomp and no_new_privs, and fail closed (the container does not start)
# where it cannot work.
# The containers have no network but their loopback (--network none): rootless podman's other
# networks reach the machine's real network, which tests must never use. The jail's DNS
# sinkhole and the ruleset are what is checked.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require podman runc newuidmap useradd userdel
world_require_build
world_init

USER_NAME=djrl$$
HOME_DIR=/tmp/$USER_NAME-home
useradd --home-dir "$HOME_DIR" --create-home --shell /bin/sh "$USER_NAME" >/dev/null 2>&1 ||
    tap_bail "cannot create user $USER_NAME"
world_on_cleanup "pkill -KILL -u $USER_NAME; userdel -r $USER_NAME"
grep -q "^$USER_NAME:" /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$USER_NAME"

# Everything the user runs lives in one directory it owns: the programs, the hooks.d files, a
# busybox rootfs, the XDG runtime directory podman needs.
RL=$W_TMP/rootless
mkdir -p "$RL/libexec" "$RL/hooks" "$RL/rootfs/bin" "$RL/xdg" "$HOME_DIR/.config/dnsjail"
install -m 755 "$top_builddir/hook/dnsjail-hook" "$top_builddir/dnsstub/dnsjail-dnsstub" \
    "$top_builddir/proxy/dnsjail-proxy" "$RL/libexec/"
cp /bin/busybox "$RL/rootfs/bin/busybox" || tap_bail "busybox-static is needed"
for stage in prestart poststop; do
    printf '{"version":"1.0.0","hook":{"path":"%s","args":["dnsjail-hook","%s"]},"when":{"annotations":{"^io\\\\.dnsjail\\\\.":".*"}},"stages":["%s"]}\n' \
        "$RL/libexec/dnsjail-hook" "$stage" "$stage" >"$RL/hooks/dnsjail-$stage.json"
done
printf 'libexec-dir = %s\nupstream-resolvers = 192.0.2.1\n' "$RL/libexec" \
    >"$HOME_DIR/.config/dnsjail/dnsjail.conf"
chmod 644 "$HOME_DIR/.config/dnsjail/dnsjail.conf"
chown -R "$USER_NAME:" "$RL" "$HOME_DIR"
chmod 700 "$RL/xdg"

as_user() { # CMD...: a login-less shell of the test user, bounded in time
    timeout -k 5 120 su -s /bin/sh "$USER_NAME" -c "cd /; export XDG_RUNTIME_DIR=$RL/xdg; $*"
}
rl_podman() { # [podman run options] -- CMD: the output goes to $W_TMP/out/rl.*
    local opts=() arg
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$(printf %q "$1")"); shift; done
    shift
    as_user podman --runtime runc --cgroup-manager cgroupfs --hooks-dir "$RL/hooks" \
        run --rm --network none --cap-drop NET_RAW "${opts[*]}" \
        --rootfs "$RL/rootfs" /bin/busybox sh -c "$(printf %q "$*")" \
        >"$W_TMP/out/rl.out" 2>"$W_TMP/out/rl.err"
}
LOOKUP='/bin/busybox nslookup secret-$(/bin/busybox cat /proc/sys/kernel/random/uuid).attacker.test 127.0.0.1'

# ---- positive control: the same container without the hook gets no sinkhole answer --------
rl_podman -- "$LOOKUP"
tap_check "control: unjailed, nothing answers 6.6.6.6 on the container's loopback" \
    eval '! grep -q "6\.6\.6\.6" "$W_TMP/out/rl.out"' || tap_diag_file "$W_TMP/out/rl.out" 5

# ---- jailed -----------------------------------------------------------------------------
# The container reports the daemons it can find from the jail's log and holds on for a moment,
# so the test can look at them from the host.
rl_podman --annotation io.dnsjail.enable=true -- "$LOOKUP; /bin/busybox sleep 3" &
runner=$!
# Live daemons only: a zombie waiting for a slow reaper holds nothing.
daemons() { # dnsstub|proxy: those serving a jail (the user's idle spares serve none)
    local p
    for p in $(pgrep -u "$USER_NAME" -x "dnsjail-$1"); do
        grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null || is_spare "$p" || echo "$p"
    done
}
tap_check "jailed: a stub and a proxy run as the rootless user" \
    wait_until 20 eval '[ -n "$(daemons dnsstub)" ] && [ -n "$(daemons proxy)" ]'
for d in dnsstub proxy; do
    pid=$(daemons $d | head -1)
    status=$(cat "/proc/$pid/status" 2>/dev/null)
    tap_check "jailed: dnsjail-$d keeps the user's uid ($(id -u "$USER_NAME"))" \
        eval '[ "$(awk "/^Uid:/ {print \$2}" <<<"$status")" = "$(id -u "$USER_NAME")" ]'
    for cap in CapPrm CapEff CapBnd CapAmb; do
        tap_check "jailed: dnsjail-$d has $cap 0" \
            eval '[ "$(awk "/^$cap:/ {print \$2}" <<<"$status")" = 0000000000000000 ]'
    done
    tap_check "jailed: dnsjail-$d has no_new_privs" eval 'grep -q "^NoNewPrivs:.*1" <<<"$status"'
    tap_check "jailed: dnsjail-$d is under seccomp (filter)" eval 'grep -q "^Seccomp:.*2" <<<"$status"'
done
wait "$runner"
tap_check "jailed: the container ran" test $? -eq 0 || tap_diag_file "$W_TMP/out/rl.err" 5
tap_check "jailed: the query got the sinkhole 6.6.6.6" grep -q "6\.6\.6\.6" "$W_TMP/out/rl.out" ||
    tap_diag_file "$W_TMP/out/rl.out" 8
LOG=$HOME_DIR/.local/state/dnsjail/dnsjail.log
tap_check "jailed: the log is under the user's home and has the query" \
    grep -q '"qname":"secret-.*\.attacker\.test"' "$LOG"
tap_check "jailed: the log belongs to the user" test "$(stat -c %U "$LOG")" = "$USER_NAME"
# No keeper under rootless (docs/DESIGN.md "The keeper"): the hook says so, and jailed anyway
# (the query above); tests/e2e/keeper.sh has the root case that makes one.
tap_check "jailed: no keeper under rootless, the hook says why (keeper_unavailable)" \
    eval 'grep -q "\"event\":\"keeper_unavailable\".*rootless" "$LOG" &&
        [ ! -e "$HOME_DIR/.local/state/dnsjail/run-keeper/netns" ]'
tap_check "after exit: the daemons are gone" wait_until 5 eval '[ -z "$(daemons dnsstub)$(daemons proxy)" ]'
tap_check "after exit: no container state left" \
    eval '[ -z "$(ls -A "$HOME_DIR/.local/state/dnsjail/run/containers")" ]'

# ---- fail closed --------------------------------------------------------------------------
# A state directory the user cannot write: the container must not start, and say why.
printf 'libexec-dir = %s\nstate-dir = /run/dnsjail-not-yours\n' "$RL/libexec" \
    >"$HOME_DIR/.config/dnsjail/dnsjail.conf"
rl_podman --annotation io.dnsjail.enable=true -- "echo started"
tap_check "unwritable state-dir: the container does not start" \
    eval '! grep -q started "$W_TMP/out/rl.out"'
tap_check "unwritable state-dir: the error names it" grep -q 'dnsjail-not-yours' "$W_TMP/out/rl.err" ||
    tap_diag_file "$W_TMP/out/rl.err" 5
# A configuration others may write: refused, never read.
printf 'libexec-dir = %s\n' "$RL/libexec" >"$HOME_DIR/.config/dnsjail/dnsjail.conf"
chmod 666 "$HOME_DIR/.config/dnsjail/dnsjail.conf"
rl_podman --annotation io.dnsjail.enable=true -- "echo started"
tap_check "config writable by others: the container does not start" \
    eval '! grep -q started "$W_TMP/out/rl.out"'
tap_check "config writable by others: the error says so" grep -qi 'writable' "$W_TMP/out/rl.err" ||
    tap_diag_file "$W_TMP/out/rl.err" 5
tap_done
