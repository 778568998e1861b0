#!/bin/bash
# Installs, with apt-get, the Debian 12 packages that dnsjail needs to build, test, demo and
# benchmark, skipping those already present.
# Usage: scripts/install-deps.sh [build|test|demo|bench]
set -euo pipefail

build=(build-essential autoconf automake libtool pkg-config libseccomp-dev libyajl-dev libcmocka-dev
       libnftnl-dev libmnl-dev libssl-dev)
runtime=(runc nftables iproute2 util-linux procps psmisc dnsmasq-base bind9-dnsutils python3 curl)
testing=(clang libclang-rt-14-dev crun podman dnsperf busybox-static openssl unbound
         knot-dnsutils debhelper dpkg-dev uidmap
         iodine net-tools  # iodine sets up its tun device with ifconfig
         valgrind python3-prometheus-client  # nftables.sh's leak checks, metrics.sh's parser
         python3-yaml  # k8s-installer.sh reads the Kubernetes manifests
         docker.io containerd)  # docker.sh and containerd.sh start private daemons of their own
# The peers the benchmarks under bench/ measure against.
benchmarking=(dnsperf dnsmasq-base unbound nginx libnginx-mod-stream haproxy hyperfine
              valgrind strace gnuplot-nox linux-perf crun)

case "${1:-test}" in
build) want=("${build[@]}") ;;
demo) want=("${build[@]}" "${runtime[@]}") ;;
test) want=("${build[@]}" "${runtime[@]}" "${testing[@]}") ;;
bench) want=("${build[@]}" "${runtime[@]}" "${benchmarking[@]}") ;;
*) echo "usage: $0 [build|test|demo|bench]" >&2; exit 2 ;;
esac


# Debian ships no static libmnl: scripts/static-libmnl.sh fetches one, so that the hook links as
# one static binary (configure's --with-static-libmnl). It runs after the packages are in, on
# every call, and never fails the install: without it the hook links libmnl shared.
static_libmnl() {
	if [ "$(id -u)" -eq 0 ]; then
		"$(dirname "$0")/static-libmnl.sh" || true
	fi
}

install_packages() {
	missing=()
	for pkg in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_install() { apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >/dev/null; }

	# The engines' packages want to run as this machine's services; the tests start private
	# daemons instead, inside their own network namespaces. Their maintainer scripts must start
	# nothing (policy-rc.d answers 101, "action forbidden", to invoke-rc.d), they stay disabled for
	# boot after, and the host's firewall and forwarding must come out exactly as they went in: a
	# dockerd that ran once here would have opened both to the real network. They go in last, in
	# an install of their own, so that nft (nftables, installed with the rest) can take the
	# "before" picture.
	engines=(docker.io containerd)
	others=()
	engines_missing=()
	for pkg in "${missing[@]}"; do
		case " ${engines[*]} " in
		*" $pkg "*) engines_missing+=("$pkg") ;;
		*) others+=("$pkg") ;;
		esac
	done

	apt-get update -q >/dev/null
	[ ${#others[@]} -eq 0 ] || apt_install "${others[@]}"
	[ ${#engines_missing[@]} -gt 0 ] || return 0

	policy=/usr/sbin/policy-rc.d
	own_policy=false
	host_net_state() { nft list ruleset 2>&1; echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"; }
	net_before=$(host_net_state)
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# install-deps.sh: no service starts during this install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=true
		trap 'rm -f "$policy"' EXIT
	fi
	apt_install "${engines_missing[@]}"

	units=(docker.service docker.socket containerd.service)
	systemctl disable "${units[@]}" >/dev/null 2>&1 || true
	# Without a running systemd (a container, a chroot) nothing was started, nothing to stop.
	if [ -d /run/systemd/system ]; then
		systemctl stop "${units[@]}" >/dev/null 2>&1 || true
	fi
	if $own_policy; then
		rm -f "$policy"
		trap - EXIT
	fi
	failed=false
	for unit in "${units[@]}"; do
		if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
			echo "install-deps: $unit is still enabled for boot" >&2
			failed=true
		fi
		if [ -d /run/systemd/system ] && systemctl is-active --quiet "$unit"; then
			echo "install-deps: $unit is running" >&2
			failed=true
		fi
	done
	net_after=$(host_net_state)
	if [ "$net_before" != "$net_after" ]; then
		echo "install-deps: installing ${engines_missing[*]} changed the host's nftables ruleset or ip_forward:" >&2
		diff <(echo "$net_before") <(echo "$net_after") >&2
		failed=true
	fi
	if $failed; then
		echo "install-deps: FAILED: the engines' packages touched the host; see above" >&2
		exit 1
	fi
}

install_packages
static_libmnl
