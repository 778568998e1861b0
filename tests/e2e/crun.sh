#!/bin/bash
# crun.sh: the jail seen from inside a container run by crun (cgroup manager disabled, so at
# poststop the state has no pid) with the build tree's hook.
# A positive control (no hook) first proves the test world can see every kind of leak; then
# the same probes from a jailed container must all be answered by the stub or refused, with
# nothing reaching the canary; io.dnsjail.enable=false must leave the container alone.
# No dnsjail process holds any of the runtime's pipes or sockets while a jailed container runs.
# Five jailed runs in one persistent namespace each end well within crun's 10 s hook timeout.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc crun dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

world_battery_control crun
world_battery_jailed crun
world_battery_disabled crun
world_battery_pipes crun
world_battery_persistent_rounds crun 5
tap_done
