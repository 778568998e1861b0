#!/bin/bash
# cli-status.sh: `dnsjail status` says whether this host can jail containers. With the hooks.d
# files and the daemons in place it says ready (exit 0) and has installed the real ruleset in
# a throw-away namespace; a hooks.d file naming a missing hook, or daemons that are not there,
# make it say NOT ready (exit 1) and name the problem. The host's own ruleset is untouched.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require nft podman
world_require_build
CLI=$top_builddir/cli/dnsjail
[ -x "$CLI" ] || tap_skip_all "not built: $CLI"
world_init
world_dnsjail_conf || tap_bail "cannot write the configuration"

good=$W_TMP/hooks-good
bad=$W_TMP/hooks-bad
mkdir -p "$good" "$bad"
for stage in prestart poststop; do
    printf '{"version":"1.0.0","hook":{"path":"%s","args":["dnsjail-hook","%s"]},"stages":["%s"]}\n' \
        "$W_HOOK" "$stage" "$stage" >"$good/dnsjail-$stage.json"
    printf '{"version":"1.0.0","hook":{"path":"%s","args":["dnsjail-hook","%s"]},"stages":["%s"]}\n' \
        "$W_TMP/no-such-hook" "$stage" "$stage" >"$bad/dnsjail-$stage.json"
done
rules_before=$(nft list ruleset 2>/dev/null | md5sum)

"$CLI" --config "$W_CONF" status --hooks-dir "$good" >"$W_TMP/good.out" 2>&1
tap_check "ready host: exit 0" test $? -eq 0 || tap_diag_file "$W_TMP/good.out" 20
tap_check "ready host: says ready" grep -q '^ready' "$W_TMP/good.out"
tap_check "ready host: the ruleset probe installed the table" \
    grep -q '^ok .*nftables inet nat.*installs' "$W_TMP/good.out"
tap_check "ready host: pidfd and seccomp found" \
    eval 'grep -q "^ok .*pidfd_open" "$W_TMP/good.out" && grep -q "^ok .*seccomp" "$W_TMP/good.out"'
tap_check "ready host: runc found" grep -q '^ok .*runtimes *runc' "$W_TMP/good.out"
tap_check "ready host: podman reaches dnsjail through the hooks.d files" \
    grep -q '^ok *engines *podman *through hooks.d' "$W_TMP/good.out"
tap_check "ready host: the raw-frame policing probe installed the netdev egress chain" \
    grep -q '^ok .*nftables netdev egress (allow-cap-net-raw) *raw-frame policing installs' \
    "$W_TMP/good.out" || tap_diag_file "$W_TMP/good.out" 30
# This kernel has AF_XDP (CONFIG_XDP_SOCKETS): harmless while allow-cap-net-raw is false; with
# it alone the hook refuses CAP_NET_RAW; with allow-af-xdp too such containers run, unpoliced.
world_dnsjail_conf --file "$W_TMP/raw.conf" "allow-cap-net-raw = true" || tap_bail "config"
"$CLI" --config "$W_TMP/raw.conf" status --hooks-dir "$good" >"$W_TMP/raw.out" 2>&1
world_dnsjail_conf --file "$W_TMP/xdp.conf" "allow-cap-net-raw = true" "allow-af-xdp = true" ||
    tap_bail "config"
"$CLI" --config "$W_TMP/xdp.conf" status --hooks-dir "$good" >"$W_TMP/xdp.out" 2>&1
world_dnsjail_conf # W_CONF back to the default config
tap_check "AF_XDP, allow-cap-net-raw false: harmless" \
    grep -q "^ok .*AF_XDP sockets *available, harmless while allow-cap-net-raw is false" \
    "$W_TMP/good.out" || tap_diag_file "$W_TMP/good.out" 30
tap_check "AF_XDP, allow-cap-net-raw alone: the hook refuses CAP_NET_RAW unless allow-af-xdp" \
    grep -q "^warn .*AF_XDP sockets *available: the hook refuses containers with CAP_NET_RAW despite allow-cap-net-raw, .*set allow-af-xdp = true to accept that" \
    "$W_TMP/raw.out" || tap_diag_file "$W_TMP/raw.out" 30
tap_check "AF_XDP, allow-af-xdp too: a warning that such frames pass the policing" \
    grep -q "^warn .*AF_XDP sockets *available: containers with CAP_NET_RAW can send frames past the raw-frame policing (allow-af-xdp accepts that)" \
    "$W_TMP/xdp.out" || tap_diag_file "$W_TMP/xdp.out" 30
"$CLI" --config "$W_CONF" status --json --hooks-dir "$good" >"$W_TMP/good.json" 2>&1
tap_check "--json: one object with ready true and every check" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["ready"] is True and len(d["checks"]) >= 8 and all(c["state"] in ("ok","warn","fail") for c in d["checks"]) else 1)' "$W_TMP/good.json"
tap_check "the host's own ruleset is unchanged" test "$(nft list ruleset 2>/dev/null | md5sum)" = "$rules_before"

"$CLI" --config "$W_CONF" status --hooks-dir "$bad" >"$W_TMP/bad.out" 2>&1
tap_check "a hooks.d file naming a missing hook: exit 1" test $? -eq 1
tap_check "... and the line names it" grep -q "^FAIL .*no-such-hook" "$W_TMP/bad.out" ||
    tap_diag_file "$W_TMP/bad.out" 20
world_dnsjail_conf --file "$W_TMP/nodaemons.conf" "libexec-dir = $W_TMP/empty-hooks.d" ||
    tap_bail "config"
"$CLI" --config "$W_TMP/nodaemons.conf" status --hooks-dir "$good" >"$W_TMP/nod.out" 2>&1
rc=$?
tap_check "daemons missing: exit 1" test "$rc" -eq 1
tap_check "daemons missing: the daemon is named" grep -q "^FAIL .*dnsjail-dnsstub" "$W_TMP/nod.out"
tap_done
