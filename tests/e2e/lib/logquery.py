#!/usr/bin/python3
"""Questions the e2e scripts ask of a JSON-lines log (the hook's log, a stub's log).

  query LOG ID QNAME     exit 0 when LOG has a dns_query line for QNAME from container ID
  event LOG EVENT ID     exit 0 when LOG has an event EVENT for container ID
  outcome LOG QNAME N    print the outcome field of the Nth line about QNAME (none if fewer)

usage: logquery.py SUBCOMMAND ARGS...
"""
import sys

import subcommands


# world.sh
def cmd_query():
    import json, sys
    path, cid, qname = sys.argv[1:4]
    try:
        lines = open(path).read().splitlines()
    except OSError:
        sys.exit(1)
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if (ev.get("event") == "dns_query" and ev.get("container") == cid
                and str(ev.get("qname", "")).rstrip(".").lower() == qname.lower()):
            sys.exit(0)
    sys.exit(1)


# forward.sh
def cmd_outcome():
    import json, sys
    path, qname, n = sys.argv[1], sys.argv[2].lower(), int(sys.argv[3])
    seen = [json.loads(l) for l in open(path) if l.strip()]
    seen = [e for e in seen if str(e.get("qname", "")).lower() == qname]
    print(seen[n - 1].get("outcome", "-") if len(seen) >= n else "none")

# world.sh: the log has an event EVENT for container ID
def cmd_event():
    import json, sys
    for line in open(sys.argv[1]):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == sys.argv[2] and ev.get("container") == sys.argv[3]:
            sys.exit(0)
    sys.exit(1)


COMMANDS = {"query": cmd_query, "outcome": cmd_outcome, "event": cmd_event}

if __name__ == "__main__":
    subcommands.run(COMMANDS, __doc__)
