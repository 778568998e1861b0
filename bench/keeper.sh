#!/bin/bash
# keeper.sh: what the keeper (docs/DESIGN.md "The keeper") saves a jail's nft install, and what
# making it costs, from the hook's own trace (DNSJAIL_HOOK_TRACE, hook/trace.h). ROUNDS jailed
# `runc run` containers (/bin/true, a persistent namespace each), alternating: odd rounds with
# the keeper removed first ("absent": the hook makes it again, after its own table), even
# rounds with it in place ("kept"). Prints, per kind, the nft_install phase's values sorted
# (microseconds) and their median, and the keeper phase (its creation) of the absent rounds.
# The saving shows only where no other namespace holds nat/filter output hooks at that
# moment (no host firewall with output chains, no other jail running): any such hook keeps the
# kernel's jump labels on by itself, keeper or not. A namespace's hooks go with its delayed
# teardown, so an absent round can still find the last keeper's on.
# Usage (root, from a build tree): top_builddir=$PWD ROUNDS=30 ../bench/keeper.sh
# shellcheck source=tests/e2e/world.sh
. "$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/world.sh"
world_require runc dnsmasq nft
world_require_build
world_up >/dev/null
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"
TRACE=$W_TMP/trace.out
for i in $(seq 1 "${ROUNDS:-30}"); do
    if [ $((i % 2)) = 1 ]; then
        world_remove_keeper
        tag=absent
    else
        tag=kept
    fi
    id=$W_ID-k$i-$tag
    world_ctns "k$i" >/dev/null || tap_bail "cannot make a namespace"
    b=$(world_bundle "$id" --netns "$W_NS" --hook "$W_HOOK" --hook-config "$W_CONF" \
        --hook-env "DNSJAIL_HOOK_TRACE=$TRACE" --annotation io.dnsjail.enable=true -- /bin/true) ||
        tap_bail "cannot make a bundle"
    W_CONTAINERS+=("runc $id")
    runc_cmd run --bundle "$b" "$id" </dev/null >/dev/null 2>&1 || tap_bail "runc run $id failed"
    runc_cmd delete -f "$id" >/dev/null 2>&1
done
# "prestart ID PHASE USEC" lines; the round's kind is the ID's last part.
awk '$1 == "prestart" && ($3 == "nft_install" || ($3 == "keeper")) {
        n = split($2, part, "-"); print $3 "." part[n], $4 }' "$TRACE" | sort -k1,1 -k2n |
    awk '{ v[$1] = v[$1] " " $2; c[$1]++; all[$1, c[$1]] = $2 }
        END { for (k in v) printf "%s (%d runs, median %s us):%s\n", k, c[k],
                  all[k, int((c[k] + 1) / 2)], v[k] }' | sort
tap_done
