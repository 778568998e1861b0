#!/bin/bash
# check.sh: `dnsjail check` validates annotations and admin configs as the hook would, and
# explains each rule; `dnsjail status` reports what is there. Needs no root and no network: it runs with the unit tests.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

conf() { # FILE LINES...: an admin config owned by us, not writable by others
    local f=$1
    shift
    printf '%s\n' "$@" >"$f"
    chmod 644 "$f"
}
conf "$tmp/base.conf" "state-dir = $tmp/state"
conf "$tmp/ceiling.conf" "state-dir = $tmp/state" "annotation-allow-within = *.example.com, 203.0.113.0/24" \
    "allow = registry.example.org:443"
conf "$tmp/bad.conf" "state-dir = $tmp/state" "dns-ttl = 5s"
conf "$tmp/wild.conf" "state-dir = $tmp/state" "allow-wildcard-all = true"

run --config "$tmp/base.conf" check 'api.example.com, *.cdn.example.net 203.0.113.0/24:8443 [2001:db8::/32]'
ok "a valid allow value: exit 0" test "$rc" -eq 0
ok "... four rules counted" out_has "allow: 4 rules:"
ok "... a host rule explained" out_has "the host api.example.com only (not names below it)"
ok "... a wildcard explained" out_has "every name below cdn.example.net at any depth (not cdn.example.net itself)"
ok "... a network with its port" out_has "203.0.113.0/24:8443"
ok "... an IPv6 network, ports 80 and 443" out_has "[2001:db8::/32]"
ok "... address rules bypass the proxy" out_has "straight through the firewall"
ok "... says valid" out_has "valid"

run --config "$tmp/base.conf" check 'foo..bar'
ok "a malformed rule: exit 1" test "$rc" -eq 1
ok "... with the policy parser's message" out_has 'entry "foo..bar": empty label'

run --config "$tmp/base.conf" check '*'
ok "'*' without allow-wildcard-all: refused" test "$rc" -eq 1
run --config "$tmp/wild.conf" check '*:22'
ok "'*:22' with allow-wildcard-all: accepted and explained" eval '[ "$rc" -eq 0 ] && out_has "every host name" && out_has "port 22 only"'

run --config "$tmp/base.conf" check io.dnsjail.enable=false io.dnsjail.allow=a.example
ok "annotations by key: exit 0, not jailed" eval '[ "$rc" -eq 0 ] && out_has "jailed: no"'
run --config "$tmp/base.conf" check io.dnsjail.alow=a.example
ok "a misspelt annotation: refused with its name" eval '[ "$rc" -eq 1 ] && out_has "io.dnsjail.alow"'
run --config "$tmp/base.conf" check io.dnsjail.mode=audit
ok "mode=audit: accepted" test "$rc" -eq 0
run --config "$tmp/base.conf" check io.dnsjail.mode=learn
ok "an unknown mode: refused" test "$rc" -eq 1

run --config "$tmp/ceiling.conf" check 'api.example.com:443'
ok "within the ceiling: accepted, the ceiling rule named" eval '[ "$rc" -eq 0 ] && out_has "annotation, within *.example.com"'
ok "... and the admin's own rule listed with it" out_has "admin allow"
run --config "$tmp/ceiling.conf" check 'evil.example.net'
ok "beyond the ceiling: refused" eval '[ "$rc" -eq 1 ] && out_has "wider than the administrator allows"'

conf "$tmp/profile.conf" 'allow = pypi.org' 'profile.web.allow = github.com' 'profile.learn.mode = audit'
run --config "$tmp/profile.conf" check --profile web
ok "check --profile: the profile's rules, marked as the profile's" eval '[ "$rc" -eq 0 ] && out_has "profile: web" && grep -q "github.com .*\[profile web\]" "$tmp/out" && out_has "[admin allow]"'
run --config "$tmp/profile.conf" check io.dnsjail.profile=learn
ok "io.dnsjail.profile: jailed in the profile's mode" eval '[ "$rc" -eq 0 ] && out_has "jailed: yes" && out_has "mode: audit"'
run --config "$tmp/profile.conf" check --profile web 'gitlab.com'
ok "an annotation wider than the profile: refused, the profile named" eval '[ "$rc" -eq 1 ] && out_has "wider than profile web allows"'
run --config "$tmp/profile.conf" check --profile web io.dnsjail.enable=false
ok "enable=false under a profile: refused" eval '[ "$rc" -eq 1 ] && out_has "cannot turn it off"'
run --config "$tmp/profile.conf" check --profile nope
ok "an unknown profile: refused" eval '[ "$rc" -eq 1 ] && out_has "no such profile"'

run check --config "$tmp/ceiling.conf"
ok "check --config on a valid file: exit 0" eval '[ "$rc" -eq 0 ] && out_has "ceiling.conf: valid"'
ok "... explains the admin's allow and the ceiling" eval 'out_has "granted to every jailed container" && out_has "must lie within one of"'
run check --config "$tmp/bad.conf"
ok "check --config on a bad file: exit 1 with file, line and key" eval '[ "$rc" -eq 1 ] && out_has "bad.conf:2: key '"'"'dns-ttl'"'"'"'
run check --config "$tmp/missing.conf"
ok "check --config on a missing file: exit 1" test "$rc" -eq 1
run --config "$tmp/base.conf" check
ok "no arguments: usage, exit 2" test "$rc" -eq 2
run --config "$tmp/base.conf" check --config "$tmp/base.conf" a.example
ok "--config with annotations: usage error" test "$rc" -eq 2
run --config "$tmp/base.conf" frobnicate
ok "an unknown command: exit 2" eval '[ "$rc" -eq 2 ] && out_has "unknown command"'
run --help
ok "--help lists ps and check" eval '[ "$rc" -eq 0 ] && out_has "  ps " && out_has "  check "'
run --version
ok "--version" eval '[ "$rc" -eq 0 ] && out_has "dnsjail "'
run --config "$tmp/base.conf" ps
ok "ps on a state directory that does not exist: an empty table" eval '[ "$rc" -eq 0 ] && out_has CONTAINER'

# status: a fake libexec-dir with the daemons, one without.
mkdir -p "$tmp/libexec"
printf '#!/bin/sh\n' >"$tmp/libexec/dnsjail-dnsstub"
cp "$tmp/libexec/dnsjail-dnsstub" "$tmp/libexec/dnsjail-proxy"
chmod 755 "$tmp/libexec/dnsjail-dnsstub" "$tmp/libexec/dnsjail-proxy"
conf "$tmp/status.conf" "state-dir = $tmp/state" "libexec-dir = $tmp/libexec"
run --config "$tmp/status.conf" status
ok "status: names the config, the state directory and the daemons" \
    eval 'out_has "status.conf" && out_has "state in $tmp/state" && grep -q "^ok .*dnsjail-proxy" "$tmp/out"'
ok "status: looks at pidfd and seccomp" eval 'out_has "pidfd" && out_has "seccomp"'
rm "$tmp/libexec/dnsjail-proxy"
run --config "$tmp/status.conf" status
ok "status: a missing daemon is missing, exit 1" eval '[ "$rc" -eq 1 ] && grep -q "^FAIL .*dnsjail-proxy" "$tmp/out"'
run --config "$tmp/bad.conf" status
ok "status: a broken config is reported, not fatal" eval '[ "$rc" -eq 1 ] && grep -q "^FAIL .*bad.conf.*bad.conf:2" "$tmp/out" && out_has "pidfd"'

# logs on a log file with garbage among the lines.
{
    echo '{"time":"T1","event":"dns_query","container":"c1","proto":"udp","qname":"a.test","qtype":"A","rcode":"NOERROR","answer":"6.6.6.6"}'
    echo 'not json at all'
    printf '{"event":"dns_query","container":"c1","qname":"esc\\u001b[2Jape"}\n'
    head -c 70000 /dev/zero | tr '\0' 'x'
    echo
    echo '{"time":"T2","event":"tls_connection","container":"c2","host":"b.test","port":443,"decision":"deny","reason":"no rule"}'
    echo '{"time":"T3","event":"http_request","container":"c1","host":"c.test","port":80,"method":"GET","path":"/x","decision":"allow"}'
} >"$tmp/log"
conf "$tmp/logs.conf" "state-dir = $tmp/state" "log-file = $tmp/log"
run --config "$tmp/logs.conf" logs c1
ok "logs: the container's lines, readable" eval '[ "$rc" -eq 0 ] && out_has "a.test A -> 6.6.6.6 (NOERROR)" && out_has "GET http://c.test:80/x -> allow"'
ok "logs: not another container's" eval '! out_has b.test'
ok "logs: no escape byte reaches the terminal" eval '! grep -q $'"'"'\033'"'"' "$tmp/out" && out_has "esc\\x1b[2Jape"'
run --config "$tmp/logs.conf" logs --json c2
ok "logs --json: the line itself" eval '[ "$rc" -eq 0 ] && [ "$(grep -c "^{" "$tmp/out")" -eq 1 ] && out_has "\"host\":\"b.test\""'
conf "$tmp/nolog.conf" "state-dir = $tmp/state" "log-file = $tmp/missing.log"
run --config "$tmp/nolog.conf" logs c1
ok "logs: a missing log file is an error that names it" eval '[ "$rc" -eq 1 ] && out_has missing.log'

echo "1..$n"
[ "$failed" -eq 0 ]
