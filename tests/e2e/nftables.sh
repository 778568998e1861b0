#!/bin/bash
# nftables.sh: drives lib/jail/nft.c (through tests/tools/dj-nft-tool) in a throw-away network
# namespace and checks both the installed ruleset and what it does to traffic.
#
# Two namespaces, nothing on the host's interfaces: "jail" (where the table goes) and "net" (a
# fake internet), joined by a veth with documentation addresses (192.0.2.0/24, 2001:db8::/64).
# The net namespace runs a canary DNS server that logs every query it gets, and TCP/UDP
# listeners, so the test can tell a leak (the canary saw it) from a redirect or a refusal.
# Positive controls run before the table is installed: they prove the probes can see a leak.
# Output is TAP; the plan comes last.

script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/tap.sh
. "$script_dir/tap.sh"
top_builddir=${top_builddir:-$script_dir/../..}
tool=$top_builddir/tests/tools/dj-nft-tool


[ "$(id -u)" = 0 ] || tap_skip_all "needs root (network namespaces, nftables)"
for cmd in ip nft unshare dig dnsmasq python3 timeout; do
    command -v "$cmd" >/dev/null 2>&1 || tap_skip_all "$cmd is not installed"
done
[ -x "$tool" ] || tap_skip_all "$tool is not built (make tap_check builds it)"

JAIL=djt-nft-$$
NET=djt-nft-net-$$
DNS_PORT=15353
HTTP_PORT=15380
WORK=$(mktemp -d /tmp/djt-nft.XXXXXX) || tap_bail "cannot create a temporary directory"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    ip netns del "$JAIL" 2>/dev/null
    ip netns del "$NET" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_jail() { ip netns exec "$JAIL" "$@"; }
in_net() { ip netns exec "$NET" "$@"; }

# ---- probes (python3: exact errno and timing, no guessing from tool output) ---------------
NFTPROBE=$script_dir/lib/nftprobe.py
probe() { /usr/bin/python3 "$NFTPROBE" "$@"; }

start_in() { # start_in NS COMMAND... : background, remembered for cleanup
    local ns=$1
    shift
    ip netns exec "$ns" "$@" >>"$WORK/daemons.log" 2>&1 &
    PIDS+=($!)
}

wait_until() { # wait_until COMMAND... : up to 30 s (a loaded CI host starts python slowly)
    local deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
world_state() { # what a bail-out needs to tell a slow start from a broken one
    echo "last probe: $(in_jail /usr/bin/python3 "$NFTPROBE" tcp 192.0.2.1 80 2>&1)"
    echo "listeners in $NET:"
    in_net ss -ltnu 2>&1
    echo "links:"
    ip -n "$JAIL" -br link 2>&1
    ip -n "$NET" -br link 2>&1
    echo "daemons.log:"
    cat "$WORK/daemons.log" 2>&1
}

# ---- topology ----------------------------------------------------------------------------
ip netns add "$JAIL" || tap_bail "cannot create namespace $JAIL"
ip netns add "$NET" || tap_bail "cannot create namespace $NET"
{
    ip -n "$JAIL" link set lo up &&
        ip -n "$NET" link set lo up &&
        ip -n "$JAIL" link add veth0 type veth peer name veth1 netns "$NET" &&
        ip -n "$JAIL" addr add 192.0.2.2/24 dev veth0 &&
        ip -n "$JAIL" addr add 2001:db8::2/64 dev veth0 nodad &&
        ip -n "$NET" addr add 192.0.2.1/24 dev veth1 &&
        ip -n "$NET" addr add 2001:db8::1/64 dev veth1 nodad &&
        ip -n "$JAIL" link set veth0 up &&
        ip -n "$NET" link set veth1 up &&
        ip -n "$JAIL" route add default via 192.0.2.1 &&
        ip -n "$JAIL" -6 route add default via 2001:db8::1
} || tap_bail "cannot build the veth topology"

# The canary: the "real resolver" no query may reach once the jail is up.
start_in "$NET" dnsmasq -k --conf-file=/dev/null --user=root --no-resolv --no-hosts \
    --address=/#/192.0.2.53 --port=53 --listen-address=192.0.2.1,2001:db8::1 --bind-interfaces \
    --log-queries --log-facility="$WORK/canary.log" --pid-file="$WORK/canary.pid"
# The local listener the redirect must reach (stands in for dnsjail's DNS stub).
start_in "$JAIL" dnsmasq -k --conf-file=/dev/null --user=root --no-resolv --no-hosts \
    --address=/#/6.6.6.6 --port="$DNS_PORT" --listen-address=127.0.0.1,::1 --bind-interfaces \
    --log-queries --log-facility="$WORK/local.log" --pid-file="$WORK/local.pid"
start_in "$NET" /usr/bin/python3 "$NFTPROBE" serve-tcp 192.0.2.1 22 internet-ssh
start_in "$NET" /usr/bin/python3 "$NFTPROBE" serve-tcp 2001:db8::1 22 internet-ssh
start_in "$NET" /usr/bin/python3 "$NFTPROBE" serve-tcp 192.0.2.1 80 internet-http
start_in "$NET" /usr/bin/python3 "$NFTPROBE" serve-udp 192.0.2.1 9999
start_in "$JAIL" /usr/bin/python3 "$NFTPROBE" serve-tcp 127.0.0.1 "$HTTP_PORT" jail-proxy

dig_short() { # dig_short NS SERVER NAME [dig options]
    local ns=$1 server=$2 qname=$3
    shift 3
    ip netns exec "$ns" dig +short +tries=1 +time=2 "$@" @"$server" "$qname" A 2>&1
}
wait_until test "$(dig_short "$NET" 192.0.2.1 ready.test)" = 192.0.2.53 ||
    tap_bail "canary dnsmasq did not come up: $(cat "$WORK/daemons.log")"
wait_until test "$(dig_short "$JAIL" 127.0.0.1 ready.test -p "$DNS_PORT")" = 6.6.6.6 ||
    tap_bail "local dnsmasq did not come up: $(cat "$WORK/daemons.log")"
listening() { # listening NS ss-OPTIONS ADDR:PORT
    ip netns exec "$1" ss -Hn "$2" "sport = :${3##*:}" | grep -qF "$3"
}
for listener in "$NET -lt 192.0.2.1:22" "$NET -lt [2001:db8::1]:22" "$NET -lt 192.0.2.1:80" \
    "$NET -lu 192.0.2.1:9999" "$JAIL -lt 127.0.0.1:$HTTP_PORT"; do
    # shellcheck disable=SC2086 # the words are the arguments
    wait_until listening $listener ||
        tap_bail "listener $listener did not come up: $(world_state | tr '\n' ' ')"
done
wait_until test "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 192.0.2.1 80 | cut -d' ' -f1)" = \
    banner:internet-http || tap_bail "TCP listeners did not come up: $(world_state | tr '\n' ' ')"

canary_saw() { grep -q "query\[A\] $1 " "$WORK/canary.log" 2>/dev/null; }
outcome_is() { # outcome_is EXPECTED-REGEX ACTUAL
    if [[ $2 =~ ^$1$ ]]; then return 0; fi
    echo "expected /$1/, got \"$2\"" | tap_diag
    return 1
}

# ---- 5. positive controls: without the table everything leaks ---------------------------
echo "# positive controls (no table yet)"
tap_check "control: no table before install" test "$(in_jail "$tool" exists)" = no
tap_check "control: dig @192.0.2.1 is answered by the canary" \
    test "$(dig_short "$JAIL" 192.0.2.1 control-udp.test)" = 192.0.2.53
tap_check "control: the canary logged the query" canary_saw control-udp.test
tap_check "control: dig +tcp @192.0.2.1 reaches the canary" \
    test "$(dig_short "$JAIL" 192.0.2.1 control-tcp.test +tcp)" = 192.0.2.53
tap_check "control: dig @2001:db8::1 reaches the canary" \
    test "$(dig_short "$JAIL" 2001:db8::1 control-v6.test)" = 192.0.2.53
tap_check "control: TCP to 192.0.2.1:22 connects" \
    outcome_is "banner:internet-ssh [0-9.]+" "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 192.0.2.1 22)"
tap_check "control: TCP to [2001:db8::1]:22 connects" \
    outcome_is "banner:internet-ssh [0-9.]+" "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 2001:db8::1 22)"
tap_check "control: UDP to 192.0.2.1:9999 is echoed" \
    outcome_is reply "$(in_jail /usr/bin/python3 "$NFTPROBE" udp 192.0.2.1 9999)"
tap_check "control: ping 192.0.2.1 works" \
    outcome_is reply "$(in_jail /usr/bin/python3 "$NFTPROBE" ping 192.0.2.1)"
tap_check "control: ping 2001:db8::1 works" \
    outcome_is reply "$(in_jail /usr/bin/python3 "$NFTPROBE" ping 2001:db8::1)"

# ---- 1. install and listing ----------------------------------------------------------------
chain_body() { # the rules and settings of CHAIN, one normalized line each
    in_jail nft list table inet dnsjail 2>/dev/null |
        awk -v chain="$1" '
            $1 == "chain" && $2 == chain { inside = 1; next }
            inside && $1 == "}" { inside = 0 }
            inside && NF { $1 = $1; print }'
}
body_matches() { # body_matches CHAIN REGEX... : one line per regex, in order, nothing else
    local chain=$1 line i=0
    shift
    local -a want=("$@") got=()
    mapfile -t got < <(chain_body "$chain")
    if [ "${#got[@]}" -ne "${#want[@]}" ]; then
        printf '%s\n' "chain $chain: expected ${#want[@]} lines, got ${#got[@]}:" "${got[@]}" | tap_diag
        return 1
    fi
    for line in "${got[@]}"; do
        if ! [[ $line =~ ^${want[$i]}$ ]]; then
            echo "chain $chain line $((i + 1)): expected /${want[$i]}/, got \"$line\"" | tap_diag
            return 1
        fi
        i=$((i + 1))
    done
}
# -150 is printed by the name nft gives it for filter chains
nat_head='type nat hook output priority (-150|mangle); policy accept;'
filter_head='type filter hook output priority (0|filter); policy drop;'
admit='goto admit'
inbound='ct direction reply ct mark & 0x00800000 != 0x00000000'
filter_rules() { # DNS_PORT [OTHER TCP PORT...]: the expected filter_out, one regex a line
    local dns=$1 lo port
    shift
    echo 'ct state established,related ct mark & 0x00400000 != 0x00000000 accept'
    echo "$inbound meta l4proto tcp ct status assured accept"
    echo "$inbound tcp flags syn,ack / fin,syn,rst,ack accept"
    echo "$inbound tcp flags & rst == rst accept"
    for lo in 'ip daddr 127\.0\.0\.1' 'ip6 daddr ::1'; do
        echo "$lo udp dport $dns $admit"
        echo "$lo tcp dport $dns $admit"
        for port in "$@"; do echo "$lo tcp dport $port $admit"; done
    done
    echo "oif \"?lo\"? $admit"
    echo 'ip6 daddr fe80::/10 ip6 hoplimit 255 icmpv6 type 133-136 accept'
    echo 'ip6 daddr ff02::/16 ip6 hoplimit 255 icmpv6 type 133-136 accept'
    echo 'meta l4proto tcp reject with tcp reset'
    echo 'reject with icmpx (type )?admin-prohibited'
}
mapfile -t filter_dns_only < <(filter_rules "$DNS_PORT")
mapfile -t filter_proxies < <(filter_rules 25353 25380 25443)

echo "# install, listing, replace"
if out=$(in_jail "$tool" install "$DNS_PORT" 2>&1); then tap_ok "install $DNS_PORT"; else
    tap_not_ok "install $DNS_PORT"
    echo "$out" | tap_diag
fi
tap_check "nat_out holds the two DNS redirects" body_matches nat_out "$nat_head" \
    "udp dport 53 redirect to :$DNS_PORT" "tcp dport 53 redirect to :$DNS_PORT"
tap_check "filter_out admits by mark, inbound replies and our listeners, then rejects" \
    body_matches filter_out "$filter_head" "${filter_dns_only[@]}"
tap_check "admit marks a flow on its first packets only, and accepts" body_matches admit \
    'ct state new ct mark set ct mark \| 0x00400000' accept
tap_check "mark_in marks inbound TCP SYNs (no UDP without allow-inbound-udp)" \
    body_matches mark_in 'type filter hook input priority (0|filter); policy accept;' \
    'ct state new tcp flags syn / fin,syn,rst,ack ct mark set ct mark \| 0x00800000'

tap_check "install again (replace) succeeds" in_jail "$tool" install "$DNS_PORT"
tap_check "replace leaves exactly one table inet dnsjail" \
    test "$(in_jail nft list tables | grep -c '^table inet dnsjail$')" = 1
tap_check "replace does not duplicate the rules" body_matches nat_out "$nat_head" \
    "udp dport 53 redirect to :$DNS_PORT" "tcp dport 53 redirect to :$DNS_PORT"

# A pod's next member: the create is refused with EEXIST and the table that is there stays,
# rules and all (no probe before the create tells the two cases apart).
tap_check "ensure on a namespace that holds the table keeps it" \
    test "$(in_jail "$tool" ensure 35353)" = kept
tap_check "ensure kept the rules (no redirect to 35353)" body_matches nat_out "$nat_head" \
    "udp dport 53 redirect to :$DNS_PORT" "tcp dport 53 redirect to :$DNS_PORT"

tap_check "install 25353 25380 25443 (other ports, proxies on)" \
    in_jail "$tool" install 25353 25380 25443
tap_check "nat_out now redirects to the new ports only" body_matches nat_out "$nat_head" \
    "udp dport 53 redirect to :25353" "tcp dport 53 redirect to :25353" \
    "tcp dport 80 redirect to :25380" "tcp dport 443 redirect to :25443"
tap_check "filter_out admits the new listener ports after the replace" \
    body_matches filter_out "$filter_head" "${filter_proxies[@]}"
tap_check "install 25353 0 25443 leaves the HTTP redirect out" \
    in_jail "$tool" install 25353 0 25443
tap_check "nat_out has no port 80 rule" body_matches nat_out "$nat_head" \
    "udp dport 53 redirect to :25353" "tcp dport 53 redirect to :25353" \
    "tcp dport 443 redirect to :25443"
tap_check "the tool refuses DNS port 0" \
    bash -c "! ip netns exec $JAIL $tool install 0 2>/dev/null"

# ---- 3. exists / remove --------------------------------------------------------------------
echo "# exists, remove"
tap_check "exists prints yes" test "$(in_jail "$tool" exists)" = yes
tap_check "remove succeeds" in_jail "$tool" remove
tap_check "exists prints no after remove" test "$(in_jail "$tool" exists)" = no
tap_check "nft agrees the table is gone" bash -c "! ip netns exec $JAIL nft list table inet dnsjail 2>/dev/null"
tap_check "remove of a missing table succeeds" in_jail "$tool" remove
tap_check "ensure on a namespace without the table creates it" \
    test "$(in_jail "$tool" ensure "$DNS_PORT")" = created
tap_check "exists prints yes after ensure" test "$(in_jail "$tool" exists)" = yes
tap_check "remove after ensure succeeds" in_jail "$tool" remove
tap_check "the namespace outside the jail has no table" test "$(in_net "$tool" exists)" = no

# ---- container-dns and allow-container-networks: the rules' places ------------------------
echo "# container-dns and allow-container-networks"
tap_check "install with --container-dns, --container-net and --gateway" \
    in_jail "$tool" install "$DNS_PORT" --container-dns 127.0.0.11 --container-net 198.18.5.0/24 \
    --gateway 198.18.5.1
tap_check "nat_out: the marked sockets skip the redirect first; the network (not its gateway) is not redirected" \
    body_matches nat_out "$nat_head" \
    'meta mark 0x646a0035 ip daddr 127\.0\.0\.11 udp dport 53 accept' \
    "udp dport 53 redirect to :$DNS_PORT" "tcp dport 53 redirect to :$DNS_PORT" \
    'ip daddr != 198\.18\.5\.1 ip daddr 198\.18\.5\.0/24 meta l4proto tcp accept'
mapfile -t filter_cdns < <(
    echo "meta mark 0x646a0035 meta nfproto ipv4 meta l4proto udp ct original ip daddr 127\.0\.0\.11 ct original proto-dst 53 $admit"
    filter_rules "$DNS_PORT" | sed '$d' | sed '$d'
    echo 'ip daddr 198\.18\.5\.1 reject with icmpx (type )?admin-prohibited'
    echo "ip daddr 198\.18\.5\.0/24 $admit"
    filter_rules "$DNS_PORT" | tail -n 2
)
tap_check "filter_out: the marked sockets first (by the original destination), the gateway rejected before its network" \
    body_matches filter_out "$filter_head" "${filter_cdns[@]}"
tap_check "remove after the container options" in_jail "$tool" remove

# ---- 4. behaviour --------------------------------------------------------------------------
echo "# behaviour with the table installed (DNS $DNS_PORT, HTTP $HTTP_PORT, no TLS proxy)"
tap_check "install $DNS_PORT $HTTP_PORT 0" in_jail "$tool" install "$DNS_PORT" "$HTTP_PORT" 0

tap_check "dig @192.0.2.1 is answered 6.6.6.6 locally" \
    test "$(dig_short "$JAIL" 192.0.2.1 leak-udp.test)" = 6.6.6.6
tap_check "dig +tcp @192.0.2.1 is answered 6.6.6.6 locally" \
    test "$(dig_short "$JAIL" 192.0.2.1 leak-tcp.test +tcp)" = 6.6.6.6
tap_check "dig @2001:db8::1 is answered 6.6.6.6 locally (via ::1)" \
    test "$(dig_short "$JAIL" 2001:db8::1 leak-v6.test)" = 6.6.6.6
tap_check "dig +tcp @2001:db8::1 is answered 6.6.6.6 locally" \
    test "$(dig_short "$JAIL" 2001:db8::1 leak-v6tcp.test +tcp)" = 6.6.6.6
tap_check "dig @198.51.100.1 (any address) is answered locally" \
    test "$(dig_short "$JAIL" 198.51.100.1 leak-any.test)" = 6.6.6.6
for qname in leak-udp.test leak-tcp.test leak-v6.test leak-v6tcp.test leak-any.test; do
    tap_check "the canary never saw $qname" bash -c "! grep -q 'query\[A\] $qname ' '$WORK/canary.log'"
done
tap_check "the local listener saw leak-udp.test" grep -q "query\[A\] leak-udp.test " "$WORK/local.log"

fast_reset() { # fast_reset HOST PORT
    # "0.NNN" seconds: a reset within the ~1 s budget, not a SYN retransmission timeout
    outcome_is "error:ECONNREFUSED 0\.[0-9]+" "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp "$1" "$2")"
}
tap_check "TCP to 192.0.2.1:22 is refused (tcp reset) within 1 s" fast_reset 192.0.2.1 22
tap_check "TCP to [2001:db8::1]:22 is refused (tcp reset) within 1 s" fast_reset 2001:db8::1 22
tap_check "TCP to 192.0.2.1:443 is refused (no TLS proxy configured)" fast_reset 192.0.2.1 443
tap_check "TCP to 192.0.2.1:80 reaches the local proxy, not the internet" \
    outcome_is "banner:jail-proxy [0-9.]+" "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 192.0.2.1 80)"
tap_check "UDP to 192.0.2.1:9999 fails with EPERM or an ICMP error" \
    outcome_is "(send-error|recv-error):(EPERM|EACCES|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)" \
    "$(in_jail /usr/bin/python3 "$NFTPROBE" udp 192.0.2.1 9999)"
tap_check "ping 192.0.2.1 fails with EPERM or an ICMP error" \
    outcome_is "(send-error|recv-error):(EPERM|EACCES|EHOSTUNREACH|ENETUNREACH)" \
    "$(in_jail /usr/bin/python3 "$NFTPROBE" ping 192.0.2.1)"
tap_check "ping 2001:db8::1 fails with EPERM or an ICMP error" \
    outcome_is "(send-error|recv-error):(EPERM|EACCES|EHOSTUNREACH|ENETUNREACH)" \
    "$(in_jail /usr/bin/python3 "$NFTPROBE" ping 2001:db8::1)"
tap_check "loopback: dig @127.0.0.1 -p $DNS_PORT works" \
    test "$(dig_short "$JAIL" 127.0.0.1 loop.test -p "$DNS_PORT")" = 6.6.6.6
tap_check "loopback: dig @::1 -p $DNS_PORT works" \
    test "$(dig_short "$JAIL" ::1 loop6.test -p "$DNS_PORT")" = 6.6.6.6
tap_check "loopback: TCP to 127.0.0.1:$HTTP_PORT works" \
    outcome_is "banner:jail-proxy [0-9.]+" \
    "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 127.0.0.1 "$HTTP_PORT")"

# Address rules (io.dnsjail.allow CIDRs) open exactly their network and port, and nothing else.
tap_check "install with address rules 192.0.2.0/24:22 and [2001:db8::1]" \
    in_jail "$tool" install "$DNS_PORT" "$HTTP_PORT" 0 --allow "192.0.2.0/24:22, [2001:db8::1]"
tap_check "filter_out accepts ip daddr 192.0.2.0/24 tcp dport 22" \
    bash -c "ip netns exec $JAIL nft list chain inet dnsjail filter_out | grep -q 'ip daddr 192.0.2.0/24 tcp dport 22 goto admit'"
tap_check "nat_out exempts [2001:db8::1]:80 from the proxy redirect" \
    bash -c "ip netns exec $JAIL nft list chain inet dnsjail nat_out | grep -q 'ip6 daddr 2001:db8::1 tcp dport 80 accept'"
tap_check "address rule: TCP to 192.0.2.1:22 connects" \
    outcome_is "banner:internet-ssh [0-9.]+" "$(in_jail /usr/bin/python3 "$NFTPROBE" tcp 192.0.2.1 22)"
tap_check "address rule: TCP to [2001:db8::1]:22 (port not in the rule) is still refused" \
    fast_reset 2001:db8::1 22
tap_check "address rule: UDP to 192.0.2.1:9999 is still refused" \
    outcome_is "(send-error|recv-error):(EPERM|EACCES|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)" \
    "$(in_jail /usr/bin/python3 "$NFTPROBE" udp 192.0.2.1 9999)"
tap_check "address rule: DNS to 192.0.2.1 is still answered locally" \
    test "$(dig_short "$JAIL" 192.0.2.1 cidr-dns.test)" = 6.6.6.6

# After removal traffic flows again: the jail, not something else, did the blocking.
tap_check "remove, then dig @192.0.2.1 reaches the canary again" \
    bash -c "ip netns exec $JAIL $tool remove &&
        test \"\$(ip netns exec $JAIL dig +short +tries=1 +time=2 @192.0.2.1 after.test A)\" = 192.0.2.53"

# ---- valgrind (scripts/install-deps.sh test installs it) ----------------------------------------
if command -v valgrind >/dev/null 2>&1; then
    vg() {
        in_jail valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$tool" "$@" >"$WORK/vg.log" 2>&1 || {
            tap_diag <"$WORK/vg.log"
            return 1
        }
    }
    tap_check "valgrind: install (new table) is clean" vg install "$DNS_PORT" "$HTTP_PORT" 0
    tap_check "valgrind: install (replace) is clean" vg install "$DNS_PORT"
    tap_check "valgrind: exists is clean" vg exists
    tap_check "valgrind: remove is clean" vg remove
else
    tap_not_ok "valgrind checks: valgrind is not installed (scripts/install-deps.sh test)"
fi

tap_done
