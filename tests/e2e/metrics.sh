#!/bin/bash
# metrics.sh: the daemons' metrics files and `dnsjail ps`.
# - Standalone, as root dropping to nobody under their seccomp filters, the stub and the proxy
#   write dnsstub.prom / proxy.prom with the counts of what they served, and exit cleanly (a
#   syscall missing from an allowlist would end them with SIGSYS).
# - A jailed runc container: a few queries from inside show up in dnsstub.prom, the files are
#   valid exposition text (a checker that must also reject a broken file), and `dnsjail ps`
#   (table and --json) lists the container with its pids and counters, and stops listing it
#   once the container is gone.
# - `dnsjail ps` on a state directory full of garbage, on jails vanishing while it reads, and
#   without read access: clear output or a clear error, never a crash.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dig python3 curl
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

DNSJAIL=$top_builddir/cli/dnsjail
[ -x "$DNSJAIL" ] || tap_bail "$DNSJAIL is not built"

# Checks FILE as Prometheus text exposition format: every sample's family has one # TYPE
# before it, names and labels are well-formed, values are numbers, histogram buckets are
# cumulative and end in +Inf equal to _count. Prints what is wrong and fails.
prom_check() { # FILE
    /usr/bin/python3 "$W_E2E_DIR/lib/promcheck.py" exposition "$1"
}

# The value of the sample whose line starts with PREFIX in FILE (0 when absent).
prom_value() { # FILE PREFIX
    awk -v p="$2" 'index($0, p) == 1 { print $NF; found = 1; exit } END { if (!found) print 0 }' "$1"
}
prom_at_least() { # FILE PREFIX N
    [ -r "$1" ] && [ "$(prom_value "$1" "$2" | cut -d. -f1)" -ge "$3" ]
}

# ---- the checker itself -------------------------------------------------------------------
bad=$W_TMP/out/bad.prom
printf '# TYPE a_total counter\na_total 1\nb{x="1} 2\n' >"$bad"
tap_check "positive control: the exposition checker rejects a broken file" eval '! prom_check "$bad" >/dev/null'
printf '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n' >"$bad"
tap_check "positive control: ... and buckets that are not cumulative" eval '! prom_check "$bad" >/dev/null'

# ---- standalone daemons under their sandboxes ---------------------------------------------
mdir=$W_TMP/standalone-metrics
mkdir -p "$mdir" && chown nobody "$mdir"
"$W_STUB_EXE" --listen 127.0.0.1:25353 --user nobody --metrics-dir "$mdir" \
    --netns-key 1-2 --container-id standalone >/dev/null 2>"$W_TMP/out/stub.err" &
stub_pid=$!
"$W_TMP/libexec/dnsjail-proxy" --listen-http 127.0.0.1:25380 --allow allowed.example \
    --resolver 127.0.0.1:25353 --user nobody --metrics-dir "$mdir" --netns-key 1-2 \
    --container-id standalone >/dev/null 2>"$W_TMP/out/proxy.err" &
proxy_pid=$!
world_on_cleanup "kill $stub_pid $proxy_pid 2>/dev/null"
wait_until 5 test -s "$mdir/dnsstub.prom"
wait_until 5 test -s "$mdir/proxy.prom"
for i in 1 2 3; do dig +short +tries=1 +time=2 @127.0.0.1 -p 25353 "q$i.standalone.test" >/dev/null; done
dig +tcp +short +tries=1 +time=2 @127.0.0.1 -p 25353 tcp.standalone.test >/dev/null
curl -s -o /dev/null -m 5 -H "Host: denied.example" http://127.0.0.1:25380/
tap_check "standalone stub: dnsstub.prom counts 4 sinkholed queries (within 7 s)" \
    wait_until 7 prom_at_least "$mdir/dnsstub.prom" 'dnsjail_dns_queries_total{netns="1-2",container="standalone",outcome="sinkholed"}' 4
tap_check "standalone stub: ... and the TCP connection" \
    prom_at_least "$mdir/dnsstub.prom" 'dnsjail_dns_tcp_connections_total{' 1
tap_check "standalone proxy: proxy.prom counts the denied request" \
    wait_until 7 prom_at_least "$mdir/proxy.prom" 'dnsjail_proxy_decisions_total{netns="1-2",container="standalone",protocol="http",decision="denied"}' 1
tap_check "standalone: the files belong to the daemons' user, readable by all" \
    test "$(stat -c %U:%a "$mdir/dnsstub.prom" "$mdir/proxy.prom" | sort -u)" = nobody:644
tap_check "standalone: no temporary file left" eval '[ -z "$(ls "$mdir" | grep -v "\.prom$")" ]'
kill -TERM "$stub_pid" "$proxy_pid"
wait "$stub_pid"
stub_rc=$?
wait "$proxy_pid"
proxy_rc=$?
tap_check "standalone stub: exits 0 after writing at exit (no SIGSYS)" test "$stub_rc" -eq 0 ||
    tap_diag_file "$W_TMP/out/stub.err" 5
tap_check "standalone proxy: exits 0 after writing at exit (no SIGSYS)" test "$proxy_rc" -eq 0 ||
    tap_diag_file "$W_TMP/out/proxy.err" 5
tap_check "standalone: dnsstub.prom is valid exposition text" prom_check "$mdir/dnsstub.prom"
tap_check "standalone: proxy.prom is valid exposition text" prom_check "$mdir/proxy.prom"

# ---- a jailed container --------------------------------------------------------------------
world_ctns metrics || tap_bail "cannot make a namespace"
# A detached jailed container ID running sleep in the namespace; sets jdir (its jail's state
# directory), stub and proxy (its daemons' pids).
start_jailed() { # LABEL ID
    local b
    b=$(world_bundle "$2" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --annotation io.dnsjail.enable=true --annotation io.dnsjail.allow=allowed.example \
        -- /bin/sleep 300) || tap_bail "cannot make bundle $2"
    W_CONTAINERS+=("runc $2")
    _run_capture "$2" runc_cmd run -d --bundle "$b" "$2"
    tap_check "$1: detached container started" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
    jdir=$(dirname "$(dirname "$(ls -d "$W_STATE"/netns/*/members/"$2" 2>/dev/null | head -1)")")
    stub=$(cat "$jdir/dnsstub.pid" 2>/dev/null)
    proxy=$(cat "$jdir/proxy.pid" 2>/dev/null)
}
id=$W_ID-metrics
start_jailed jail "$id"
key=$(basename "$jdir")
tap_check "jail: state has the key and both pids" test -n "$key" -a -n "$stub" -a -n "$proxy"
tap_check "jail: metrics directory belongs to the daemons' user" \
    test "$(stat -c %U:%a "$jdir/metrics" 2>/dev/null)" = nobody:755
for i in 1 2 3 4 5; do
    runc_cmd exec "$id" dig +short +tries=1 +time=2 "q$i.metrics.attacker.test" >/dev/null 2>&1
done
prefix="dnsjail_dns_queries_total{netns=\"$key\",container=\"$id\",outcome=\"sinkholed\"}"
tap_check "jail: dnsstub.prom counts the 5 queries from inside (within 7 s)" \
    wait_until 7 prom_at_least "$jdir/metrics/dnsstub.prom" "$prefix" 5 ||
    tap_diag_file "$jdir/metrics/dnsstub.prom" 5
tap_check "jail: dnsstub.prom is valid exposition text" prom_check "$jdir/metrics/dnsstub.prom"
tap_check "jail: proxy.prom is valid exposition text" prom_check "$jdir/metrics/proxy.prom"
# A second, independent reader: the Prometheus client library's own parser (Debian's
# python3-prometheus-client, installed by scripts/install-deps.sh test).
prom_client_check() { /usr/bin/python3 "$W_E2E_DIR/lib/promcheck.py" client "$1"; } # FILE
tap_check "jail: prometheus_client parses dnsstub.prom" prom_client_check "$jdir/metrics/dnsstub.prom"
tap_check "jail: prometheus_client parses proxy.prom" prom_client_check "$jdir/metrics/proxy.prom"

out=$W_TMP/out/ps.txt
"$DNSJAIL" --config "$W_CONF" ps >"$out" 2>&1
ps_rc=$?
row=$(awk -v id="$id" '$1 == id' "$out")
tap_check "dnsjail ps: exit 0" test "$ps_rc" -eq 0 || tap_diag_file "$out" 10
tap_check "dnsjail ps: a row for the container with its netns and mode" \
    eval '[ "$(echo "$row" | awk "{print \$2, \$3, \$4}")" = "$key enforce 2" ]' || tap_diag_file "$out" 10
tap_check "dnsjail ps: the row shows both live daemon pids" \
    eval '[ "$(echo "$row" | awk "{print \$5, \$6}")" = "$stub $proxy" ]' || tap_diag "$row"
tap_check "dnsjail ps: the row shows at least 5 queries" \
    eval '[ "$(echo "$row" | awk "{print \$8}")" -ge 5 ]' || tap_diag "$row"
"$DNSJAIL" --config "$W_CONF" ps -v >"$out" 2>&1
tap_check "dnsjail ps -v: shows the policy" grep -q "allow: allowed.example:443,allowed.example:80" "$out" ||
    tap_diag_file "$out" 10

json=$W_TMP/out/ps.json
"$DNSJAIL" --config "$W_CONF" ps --json >"$json" 2>&1
tap_check "dnsjail ps --json: the container with pids, liveness and counters" \
    /usr/bin/python3 "$W_E2E_DIR/lib/promcheck.py" ps-json "$json" "$id" "$key" "$stub" "$proxy"
[ "$?" -eq 0 ] || tap_diag_file "$json" 20

logs=$W_TMP/out/logs.txt
"$DNSJAIL" --config "$W_CONF" logs "$id" >"$logs" 2>&1
tap_check "dnsjail logs: the container's queries with their answers" \
    eval 'grep -q "dns .* q3.metrics.attacker.test A -> 6.6.6.6 (NOERROR" "$logs"' || tap_diag_file "$logs" 5
"$DNSJAIL" --config "$W_CONF" logs --json "$id" >"$logs" 2>&1
tap_check "dnsjail logs --json: JSON lines, all of this container" \
    python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; assert len(rows) >= 5 and all(r["container"] == sys.argv[2] for r in rows)' "$logs" "$id"
"$DNSJAIL" --config "$W_CONF" logs "$id-other" >"$logs" 2>&1
tap_check "dnsjail logs: nothing for another id" test ! -s "$logs"
follow=$W_TMP/out/follow.txt
"$DNSJAIL" --config "$W_CONF" logs -f "$id" >"$follow" 2>&1 &
follow_pid=$!
world_on_cleanup "kill $follow_pid 2>/dev/null"
runc_cmd exec "$id" dig +short +tries=1 +time=2 "later.metrics.attacker.test" >/dev/null 2>&1
tap_check "dnsjail logs -f: a query made after it started shows up" \
    wait_until 10 grep -q later.metrics.attacker.test "$follow"
kill "$follow_pid" 2>/dev/null
wait "$follow_pid" 2>/dev/null

_run_capture "$id-delete" runc_cmd delete -f "$id"
tap_check "jail: runc delete -f succeeds" test "$RUN_RC" -eq 0 || tap_diag_file "$RUN_ERR" 5
tap_check "jail: its state, metrics directory included, is removed" wait_until 5 test ! -e "$jdir"
tap_check "dnsjail ps: no longer lists the container once it is gone" \
    eval '! "$DNSJAIL" --config "$W_CONF" ps | grep -qF -- "$id"'

# ---- a jail's end: no last metrics file -----------------------------------------------------
# When every container they watch has exited, the daemons quit without writing their metrics
# once more: the poststop that follows removes the directory. Asked to quit instead (SIGTERM,
# as the hook stops the daemons of a jail that stays held), a daemon does write it. A write
# renames a new file over the old one: another inode.
id=$W_ID-metrics-end
start_jailed end "$id"
inode_of() { stat -c %i "$jdir/metrics/$1.prom" 2>/dev/null; } # DAEMON
rewritten() { [ -n "$2" ] && [ "$(inode_of "$1")" != "$2" ]; } # DAEMON INODE-BEFORE
untouched() { [ -n "$2" ] && [ "$(inode_of "$1")" = "$2" ]; } # DAEMON INODE-BEFORE
first=$(wait_until 5 test -s "$jdir/metrics/dnsstub.prom" && inode_of dnsstub)
# After a periodic write (every 5 s) the next one is 5 s away: time enough for what follows.
tap_check "end: the stub rewrites its metrics file every 5 s" \
    wait_until 8 rewritten dnsstub "$first"
stub_inode=$(inode_of dnsstub)
proxy_inode=$(inode_of proxy)
kill -TERM "$proxy"
tap_check "end, control: the proxy, asked to quit, exits" wait_until 5 eval '! kill -0 "$proxy" 2>/dev/null'
tap_check "end, control: ... and writes its metrics file as it does" rewritten proxy "$proxy_inode"
runc_cmd kill "$id" KILL >/dev/null 2>&1
tap_check "end: the container gone, the stub exits" wait_until 5 eval '! kill -0 "$stub" 2>/dev/null'
tap_check "end: ... without writing its metrics file again" untouched dnsstub "$stub_inode"
runc_cmd delete -f "$id" >/dev/null 2>&1
tap_check "end: its state, metrics directory included, is removed" wait_until 5 test ! -e "$jdir"

# ---- robustness ----------------------------------------------------------------------------
fake=$W_TMP/fakestate
mkdir -p "$fake"/netns/{1-100,2-200,3-300,4-400,5-500}/members "$fake/netns/not-a-key" "$fake/netns/1-100/metrics"
printf 'mode=enforce allow=a.example:443\n' >"$fake/netns/1-100/policy"
touch "$fake/netns/1-100/members/ok" "$fake/netns/1-100/members/$(printf 'esc\033[31mred')"
echo $$ >"$fake/netns/1-100/dnsstub.pid" # alive, but not a dnsstub
head -c 4000 /dev/urandom >"$fake/netns/1-100/metrics/dnsstub.prom"
head -c 2000000 /dev/zero | tr '\0' 'x' >"$fake/netns/1-100/metrics/proxy.prom"
head -c 600 /dev/urandom >"$fake/netns/2-200/policy"
echo -5 >"$fake/netns/2-200/proxy.pid"
mkfifo "$fake/netns/3-300/policy"
ln -s /etc/shadow "$fake/netns/4-400/policy"
mkdir "$fake/netns/4-400/dnsstub.pid"
printf 'mode=enforce allow=*,,\n' >"$fake/netns/5-500/policy"
real_conf=$W_CONF
world_dnsjail_conf --file "$W_TMP/fake.conf" "state-dir = $fake" || tap_bail "cannot write fake.conf"
W_CONF=$real_conf
out=$W_TMP/out/garbage.txt
timeout 10 "$DNSJAIL" --config "$W_TMP/fake.conf" ps -v >"$out" 2>&1
rc=$?
tap_check "garbage state: dnsjail ps exits 0 (FIFOs not waited on)" test "$rc" -eq 0 || tap_diag_file "$out" 20
tap_check "garbage state: every jail is listed, the unexpected entry is not" \
    eval '[ "$(grep -cE "^[^ ].* [1-5]-[1-5]00 " "$out")" -eq 6 ] && ! grep -q not-a-key "$out"' || tap_diag_file "$out" 20
tap_check "garbage state: problems are named" \
    eval 'grep -q "not a regular file" "$out" && grep -q "symbolic link" "$out" && grep -q "not a pid" "$out" && grep -q "too long" "$out"' ||
    tap_diag_file "$out" 20
tap_check "garbage state: no terminal escape reaches the output" eval '! grep -q $'"'"'\033'"'"' "$out"'
tap_check "garbage state: a reused pid is not taken for a live daemon" grep -qF "${$}(dead)" "$out"
timeout 10 "$DNSJAIL" --config "$W_TMP/fake.conf" ps --json >"$W_TMP/out/garbage.json" 2>&1
tap_check "garbage state: --json is valid JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$W_TMP/out/garbage.json"

# Jails appearing and vanishing while it reads.
churn() {
    local i d
    for i in $(seq 1 300); do
        d=$fake/netns/9-$((i % 7))
        mkdir -p "$d/members" "$d/metrics" && touch "$d/members/c$i" &&
            echo 'mode=enforce allow=' >"$d/policy" && cp "$mdir/dnsstub.prom" "$d/metrics/" 2>/dev/null
        rm -rf "$d"
    done
}
churn &
churn_pid=$!
crashes=0
while kill -0 "$churn_pid" 2>/dev/null; do
    timeout 10 "$DNSJAIL" --config "$W_TMP/fake.conf" ps --json >/dev/null 2>&1
    rc=$?
    [ "$rc" -ge 2 ] && crashes=$((crashes + 1))
done
wait "$churn_pid"
tap_check "vanishing jails: dnsjail ps never crashes or fails while they churn" test "$crashes" -eq 0

# Without read access to the state directory: a clear error. The config and the program must
# be readable for nobody, wherever the build and this run's directory are.
noaccess=$(mktemp -d /tmp/dj-noaccess-XXXXXX)
world_on_cleanup "rm -rf $noaccess"
chmod 755 "$noaccess"
install -m 755 "$DNSJAIL" "$noaccess/dnsjail"
install -m 644 "$W_CONF" "$noaccess/dnsjail.conf"
out=$W_TMP/out/noaccess.txt
chmod 700 "$W_STATE"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$noaccess/dnsjail" \
    --config "$noaccess/dnsjail.conf" ps >"$out" 2>&1
rc=$?
tap_check "no access: exit 1 with a message that says why" \
    eval '[ "$rc" -eq 1 ] && grep -q "state directory.*Permission denied" "$out"' ||
    tap_diag_file "$out" 5
tap_done
