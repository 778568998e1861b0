#!/bin/bash
# runc.sh: the jail seen from inside a container run by runc with the build tree's hook.
# A positive control (no hook) first proves the test world can see every kind of leak; then
# the same probes from a jailed container must all be answered by the stub or refused, with
# nothing reaching the canary; io.dnsjail.enable=false must leave the container alone.
# No dnsjail process holds any of the runtime's pipes or sockets while a jailed container runs.
# shellcheck source-path=SCRIPTDIR source=world.sh
. "$(dirname "$0")/world.sh"
world_require runc dnsmasq dig
world_require_build
world_up
world_dnsjail_conf || tap_bail "cannot write the dnsjail configuration"

world_battery_control runc
world_battery_jailed runc
world_battery_disabled runc
world_battery_pipes runc
tap_done
