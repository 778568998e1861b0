#!/bin/sh
# http-probe.sh: runs inside a test container (tests/e2e/docker.sh, containerd.sh):
# probe.py's probes (its arguments after TAG), then HTTP with curl to allowed.test (the site of
# world_site) and to denied-TAG.test (any other name: the canary's), then the container's
# effective capabilities. One "LABEL key=value ..." line each, as probe.py prints them.
# usage: http-probe.sh TAG [PROBE...]
tag=$1
shift
/usr/bin/python3 /probe.py "$@"
for label in allowed denied; do
    h=allowed.test
    [ "$label" = denied ] && h=denied-$tag.test
    code=$(curl -sS --max-time 5 -o /tmp/body -w '%{http_code}' "http://$h/path-$tag" 2>/dev/null)
    printf 'http_%s code=%s body=%s\n' "$label" "$code" "$(head -c 200 /tmp/body | tr ' \n' '__')"
done
# (No awk: /usr/bin/awk is a link into /etc/alternatives, which the test rootfs does not have.)
printf 'caps eff=%s\n' "$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
