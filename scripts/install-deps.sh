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
         python3-yaml)  # k8s-installer.sh reads the Kubernetes manifests
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

missing=()
for pkg in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
