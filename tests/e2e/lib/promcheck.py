#!/usr/bin/python3
"""Checks of the daemons' metrics and of `dnsjail ps --json` for metrics.sh.

  exposition FILE        FILE is Prometheus text exposition format: every sample's family has
                         one # TYPE before it, names and labels are well-formed, values are
                         numbers, histogram buckets are cumulative and end in +Inf equal to
                         _count; prints what is wrong and fails
  client FILE            the Prometheus client library parses FILE into at least one family
  ps-json JSON ID KEY STUB PROXY
                         the container ID is listed once in JSON with its namespace KEY, its
                         daemons' pids, their liveness and counters

usage: promcheck.py SUBCOMMAND ARGS...
"""
import sys

import subcommands


# metrics.sh
def cmd_exposition():
    import math, re, sys
    name_re = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
    label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    sample_re = re.compile(r'^(' + name_re + r')(?:\{((?:' + label_re + r')(?:,' + label_re + r')*)?\})? (\S+)(?: -?\d+)?$')
    types, helps, seen, buckets, counts, errors = {}, set(), set(), {}, {}, []
    text = open(sys.argv[1], encoding='utf-8').read()
    if text and not text.endswith('\n'):
        errors.append('no newline at the end')
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith('# HELP '):
            name = line.split(' ')[2]
            if name in helps: errors.append(f'{n}: second HELP for {name}')
            helps.add(name)
            continue
        if line.startswith('# TYPE '):
            parts = line.split(' ')
            if len(parts) != 4 or parts[3] not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                errors.append(f'{n}: bad TYPE line'); continue
            if parts[2] in types or parts[2] in seen: errors.append(f'{n}: TYPE for {parts[2]} too late or twice')
            types[parts[2]] = parts[3]
            continue
        if line.startswith('#') or not line: continue
        m = sample_re.match(line)
        if not m: errors.append(f'{n}: not a sample: {line!r}'); continue
        name, labels, value = m.group(1), m.group(2) or '', m.group(3)
        try: v = float(value.replace('Inf', 'inf'))
        except ValueError: errors.append(f'{n}: bad value {value!r}'); continue
        family = name
        for suffix in ('_bucket', '_sum', '_count'):
            if name.endswith(suffix) and types.get(name[:-len(suffix)]) == 'histogram':
                family = name[:-len(suffix)]
        if family not in types: errors.append(f'{n}: {name} has no TYPE before it')
        seen.add(family)
        if types.get(family) == 'counter' and (v < 0 or math.isnan(v)): errors.append(f'{n}: negative counter')
        if family != name:
            rest = re.sub(r',?le="[^"]*"', '', labels)
            if name.endswith('_bucket'):
                le = re.search(r'le="([^"]*)"', labels)
                if not le: errors.append(f'{n}: bucket without le'); continue
                b = buckets.setdefault((family, rest), [])
                if b and v < b[-1][1]: errors.append(f'{n}: buckets not cumulative')
                b.append((le.group(1), v))
            elif name.endswith('_count'):
                counts[(family, rest)] = v
    for key, b in buckets.items():
        if b[-1][0] != '+Inf': errors.append(f'{key}: last bucket is not +Inf')
        elif counts.get(key) != b[-1][1]: errors.append(f'{key}: +Inf bucket differs from _count')
    if not seen: errors.append('no samples')
    for e in errors: print(e)
    sys.exit(1 if errors else 0)


# metrics.sh
def cmd_ps_json():
    import json, sys
    path, cid, key, stub, proxy = sys.argv[1:]
    jails = json.load(open(path))
    assert isinstance(jails, list), "not one array"
    row = [j for j in jails if j["container"] == cid]
    assert len(row) == 1, f"{cid} listed {len(row)} times"
    j = row[0]
    assert j["netns"] == key and j["mode"] == "enforce" and j["rules"] == 2, j
    assert j["members"] == [cid], j["members"]
    assert j["daemons"]["dnsstub"] == {"pid": int(stub), "alive": True, "metrics": True}, j["daemons"]
    assert j["daemons"]["proxy"]["pid"] == int(proxy) and j["daemons"]["proxy"]["alive"], j["daemons"]
    q = [m for m in j["metrics"] if m["name"] == "dnsjail_dns_queries_total" and m["labels"] == "outcome=sinkholed"]
    assert q and q[0]["value"] >= 5, q
    assert any(m["name"] == "dnsjail_resolver_lookups_total" for m in j["metrics"])
    assert j["uptime_seconds"] is not None and j["uptime_seconds"] >= 0
    assert j["problem"] is None, j["problem"]

# metrics.sh: a second, independent reader, the Prometheus client library's own parser
def cmd_client():
    from prometheus_client.parser import text_string_to_metric_families as parse
    families = list(parse(open(sys.argv[1], encoding="utf-8").read()))
    sys.exit(0 if families else "no metric family")


COMMANDS = {"client": cmd_client, "exposition": cmd_exposition, "ps-json": cmd_ps_json}

if __name__ == "__main__":
    subcommands.run(COMMANDS, __doc__)
