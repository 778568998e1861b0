#!/usr/bin/python3
"""Exit 0 when FILE is a valid hooks.d JSON for STAGE that runs the installed HOOK and whose
matcher catches every io.dnsjail.* annotation (podman.sh).

usage: hooksdcheck.py FILE STAGE HOOK
"""
import json, os, re, sys
path, stage, hook = sys.argv[1:4]
d = json.load(open(path))
assert d["version"] == "1.0.0", d.get("version")
assert d["stages"] == [stage], d["stages"]
assert d["hook"]["path"] == hook, d["hook"]["path"]
assert os.access(hook, os.X_OK), hook
assert stage in d["hook"]["args"], d["hook"]["args"]
# the matcher must catch every io.dnsjail.* annotation, malformed values included
ann = d["when"]["annotations"]
assert any(re.search(k, "io.dnsjail.enable") and re.search(v, "yes") for k, v in ann.items()), ann
