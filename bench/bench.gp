# bench.gp: the three panels of docs/bench.png; bench/plot.sh passes the data files
# (dns, bulk, rate: whitespace tables with a header line) and the output file (out).
set terminal pngcairo size 1500,520 font "sans,10"
set output out
set multiplot layout 1,3 title "dnsjail against its peers, side by side in one run (2-core shared machine; higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right autotitle columnheader noenhanced
set grid ytics
set yrange [0:*]
set xtics nomirror
set ytics nomirror

set title "DNS sinkhole: answered queries (per second; per server CPU-second)"
set ylabel "queries"
plot dns using 2:xtic(1), '' using 3, '' using 4

set title "HTTPS relay: one bulk connection"
set ylabel "Gbit/s"
plot bulk using 2:xtic(1), '' using 3

set title "HTTPS relay: small connections (ClientHello, 100 bytes, close)"
set ylabel "connections/s"
set key off
plot rate using 2:xtic(1) linecolor rgb "#4477aa"
unset multiplot
