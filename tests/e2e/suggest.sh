#!/bin/bash
# suggest.sh: learning an allow list from the log, then enforcing it. A jailed container
# (runc) with no rules tries three sites over HTTP; `dnsjail logs ID` shows the denials;
# `dnsjail suggest` turns the log into an io.dnsjail.allow value (exact names, or a wildcard
# past --collapse); the same job run again with that value reaches every site, and a site it
# never tried stays denied.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq curl openssl
world_require_build
CLI=$top_builddir/cli/dnsjail
[ -x "$CLI" ] || tap_skip_all "not built: $CLI"

UPSTREAM_IP=203.0.113.80
for name in a.sites.test b.sites.test c.sites.test other.test; do
    world_dns_answer "$name" "$UPSTREAM_IP"
done
world_up
ip -n "$W_INET" link set djbr address 02:00:00:00:00:01 || tap_bail "cannot pin the bridge's MAC"
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
world_servers_ns upstream 203.0.113.80/28 || tap_bail "cannot make the server namespace"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sites.test \
    -keyout "$W_TMP/key.pem" -out "$W_TMP/cert.pem" >/dev/null 2>&1 || tap_bail "openssl failed"
nsenter --net="$W_SRV_NS" python3 "$W_E2E_DIR/proxy-upstream.py" serve "$W_TMP/upstream.log" \
    "$W_TMP/cert.pem" "$W_TMP/key.pem" "$UPSTREAM_IP" >"$W_TMP/upstream.out" 2>&1 &
W_PIDS+=($!)
wait_until 10 grep -qs '^ready' "$W_TMP/upstream.out" || tap_bail "the upstream did not start"

# The job: one HTTP request to each site, printing "SITE STATUS".
JOB='for h in a.sites.test b.sites.test c.sites.test; do echo "$h $(curl -s -o /dev/null -w %{http_code} --max-time 10 http://$h/)"; done'
got() { grep -q "^$2 $3\$" "$1"; } # OUTFILE SITE STATUS

world_ctns learn || tap_bail "cannot make a namespace"
id=$W_ID-learn
run_container runc "$id" "$W_NS" yes "io.dnsjail.enable=true" -- /bin/sh -c "$JOB"
tap_check "learning run: the job ran" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
for h in a b c; do
    tap_check "learning run: $h.sites.test denied (403)" got "$RUN_OUT" $h.sites.test 403 ||
        tap_diag_file "$RUN_OUT" 5
done

# dnsjail logs: the container's decisions, readable, and the log's own lines with --json.
"$CLI" --config "$W_CONF" logs "$id" >"$W_TMP/logs.out" 2>&1
tap_check "dnsjail logs: shows each denied request" \
    eval 'for h in a b c; do grep -q "http .*http://$h.sites.test:80/ -> deny" "$W_TMP/logs.out" || exit 1; done' ||
    tap_diag_file "$W_TMP/logs.out" 10
"$CLI" --config "$W_CONF" logs --json "${id:0:12}" >"$W_TMP/logs.json" 2>&1
tap_check "dnsjail logs --json: a prefix of the id selects the container's JSON lines" \
    eval 'python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$W_TMP/logs.json" &&
          grep -q "\"container\":\"$id\"" "$W_TMP/logs.json"'
"$CLI" --config "$W_CONF" logs "no-such-container" >"$W_TMP/logs.none" 2>&1
tap_check "dnsjail logs: another id shows nothing of this container" \
    eval '! grep -q sites.test "$W_TMP/logs.none"'

# dnsjail suggest: exact names by default, a wildcard past --collapse.
"$CLI" suggest --container "$id" "$W_LOG" >"$W_TMP/suggest.out" 2>&1
value=$(sed -n 's/^io\.dnsjail\.allow=//p' "$W_TMP/suggest.out")
tap_check "suggest: exact names" test "$value" = "a.sites.test, b.sites.test, c.sites.test" ||
    tap_diag_file "$W_TMP/suggest.out" 10
"$CLI" suggest --container "$id" --collapse 3 --json "$W_LOG" >"$W_TMP/suggest.json" 2>&1
wide=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["allow"])' "$W_TMP/suggest.json")
tap_check "suggest --collapse 3: one wildcard" test "$wide" = "*.sites.test" ||
    tap_diag_file "$W_TMP/suggest.json" 5
"$CLI" suggest --container "$id" --collapse 4 "$W_LOG" >"$W_TMP/suggest4.out" 2>&1
tap_check "suggest --collapse 4: three names are not enough" \
    eval '! grep -q "^io.dnsjail.allow=.*\*" "$W_TMP/suggest4.out"'

# Enforcing what was learnt: the same job now reaches every site it tried.
world_ctns enforce || tap_bail "cannot make a namespace"
id2=$W_ID-enforce
run_container runc "$id2" "$W_NS" yes "io.dnsjail.allow=${value// /}" -- /bin/sh -c \
    "$JOB; echo \"other.test \$(curl -s -o /dev/null -w %{http_code} --max-time 10 http://other.test/)\""
for h in a b c; do
    tap_check "enforcing the suggestion: $h.sites.test allowed (200)" got "$RUN_OUT" $h.sites.test 200 ||
        tap_diag_file "$RUN_OUT" 5
done
tap_check "enforcing the suggestion: a site the job never tried stays denied" \
    got "$RUN_OUT" other.test 403 || tap_diag_file "$RUN_OUT" 5
tap_done
