# lib.sh: what the scripts under bench/ share, sourced by them (never run alone).
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
#
#   bench_init NAME     die(), a work directory $WORK (mode 755: the daemons run as nobody),
#                       cleanup of every pid in PIDS on exit, CPU pinning (SERVER_CPU on CPU 1,
#                       CLIENT_CPU on CPU 0 when there are two CPUs)
#   bench_machine       the "# machine:" header every script prints first
#   bench_record K V    appends "K V" to $BENCH_RESULTS (when set), the data the plot is made from
#   median, ratio       statistics on numbers (median reads them on stdin)
#   cpu_ticks, rss_kib, pss_kib, smaps_breakdown   what /proc says about a process
#
# Env: top_builddir (default: the source tree), BENCH_RESULTS (a file, appended to).

bench_script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_builddir=${top_builddir:-$bench_script_dir/..}
top_builddir=$(cd "$top_builddir" && pwd)
CLK_TCK=$(getconf CLK_TCK)
PIDS=()

bench_init() { # NAME
    BENCH_NAME=$1
    WORK=$(mktemp -d "/tmp/$1.XXXXXX") || die "no temporary directory"
    chmod 755 "$WORK"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ "$(nproc)" -ge 2 ]; then
        SERVER_CPU="taskset -c 1"
        CLIENT_CPU="taskset -c 0"
    else
        SERVER_CPU=""
        CLIENT_CPU=""
    fi
}

die() {
    echo "${BENCH_NAME:-bench}: $*" >&2
    exit 1
}

bench_need() { # COMMAND...
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd is not installed (scripts/install-deps.sh bench)"
    done
}

bench_cleanup() {
    local pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    PIDS=()
    # Hooks for the scripts' own cleanup (namespaces, mounts), last registered first.
    local i
    for ((i = ${#BENCH_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${BENCH_CLEANUP[$i]}" >/dev/null 2>&1
    done
    [ -n "${WORK:-}" ] && [ -z "${BENCH_KEEP:-}" ] && rm -rf "$WORK"
}
BENCH_CLEANUP=()

bench_machine() {
    local model os
    model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
    echo "# machine: $(nproc) CPUs ($model), $(uname -sr), $os; a shared machine: other jobs run beside this one"
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_record() { # KEY VALUE
    [ -n "${BENCH_RESULTS:-}" ] && echo "$1 $2" >>"$BENCH_RESULTS"
    return 0
}

# The median of the numbers on stdin ("-" when there are none).
median() {
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0 && a != "-") printf "%.2f", a / b; else print "-"}'; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

# Resident and proportional memory of PID by mapping, grouped: the program itself, libc,
# OpenSSL (libssl/libcrypto), other libraries, heap, stacks, other anonymous memory.
# One line: "group=RSS/PSS ..." in KiB.
smaps_breakdown() { # PID
    awk '
        /^[0-9a-f]+-[0-9a-f]+ / {
            path = (NF >= 6) ? $6 : ""
            if (path == "[heap]") g = "heap"
            else if (path ~ /^\[stack/) g = "stack"
            else if (path ~ /libc\.so|libc-/) g = "libc"
            else if (path ~ /libssl|libcrypto/) g = "openssl"
            else if (path ~ /dnsjail-/) g = "program"
            else if (path ~ /\.so/) g = "otherlibs"
            else if (path ~ /^\[(vdso|vvar|vsyscall)/) g = "vdso"
            else g = "anon"
            next
        }
        /^Rss:/ { rss[g] += $2 }
        /^Pss:/ { pss[g] += $2 }
        END {
            n = split("program libc openssl otherlibs heap stack anon vdso", order, " ")
            for (i = 1; i <= n; i++)
                printf "%s=%d/%d ", order[i], rss[order[i]], pss[order[i]]
            printf "\n"
        }' "/proc/$1/smaps"
}
