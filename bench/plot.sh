#!/bin/bash
# plot.sh: draws the benchmark figures (docs/bench.png) from a results file that the bench
# scripts append to (BENCH_RESULTS=FILE, lines "key value", see bench/lib.sh): DNS queries per
# second against dnsmasq and unbound, and the proxy's bulk throughput and connection rate
# against nginx and haproxy (and a direct connection), all from the same run.
#
# Usage: bench/plot.sh RESULTS [PNG]   (default PNG: docs/bench.png in the source tree)
# Needs: gnuplot (Debian: gnuplot-nox).
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_NAME=plot.sh
RESULTS=${1:?usage: plot.sh RESULTS [PNG]}
PNG=${2:-$bench_script_dir/../docs/bench.png}
bench_need gnuplot
[ -s "$RESULTS" ] || die "$RESULTS is empty"
bench_init plot

value() { awk -v k="$1" '$1 == k {v = $2} END {print (v == "" || v == "-") ? 0 : v}' "$RESULTS"; }
# Three small tables, one per panel: label and the bars' values.
{
    echo "server qps(dns-blast) qps(dnsperf) per-CPU-second(dns-blast)"
    for s in stub dnsmasq unbound; do
        label=$s
        [ "$s" = stub ] && label=dnsjail-dnsstub
        echo "$label $(value "dns.$s.blast.qps") $(value "dns.$s.dnsperf.qps") $(value "dns.$s.blast.per_cpu_s")"
    done
} >"$WORK/dns.dat"
{
    echo "path upload download"
    for v in direct dnsjail nginx haproxy; do
        label=$v
        [ "$v" = dnsjail ] && label=dnsjail-proxy
        echo "$label $(value "proxy.$v.bulk_free.up.gbit") $(value "proxy.$v.bulk_free.down.gbit")"
    done
} >"$WORK/bulk.dat"
{
    echo "path conn/s"
    for v in direct dnsjail nginx haproxy; do
        label=$v
        [ "$v" = dnsjail ] && label=dnsjail-proxy
        echo "$label $(value "proxy.$v.rate.conn_per_s")"
    done
} >"$WORK/rate.dat"
gnuplot -e "dns='$WORK/dns.dat'; bulk='$WORK/bulk.dat'; rate='$WORK/rate.dat'; out='$PNG'" \
    "$bench_script_dir/bench.gp" || die "gnuplot failed"
echo "plot.sh: wrote $PNG"
