#!/usr/bin/python3
"""Edits a test bundle's config.json in place beyond what bundle.py makes.

  drop-usr CONFIG        remove the read-only /usr bind (a rootfs with nothing but the probe)
  add-tun CONFIG         give the container /dev/net/tun (iodine)
  nofile-4096 CONFIG     RLIMIT_NOFILE 4096 (more descriptors than runc's default 1024)

usage: ociedit.py SUBCOMMAND ARGS...
"""
import sys

import subcommands


# leaktest.sh
def cmd_drop_usr():
    import json, sys
    cfg = json.load(open(sys.argv[1]))
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/usr"]
    json.dump(cfg, open(sys.argv[1], "w"))


# leaktest.sh
def cmd_add_tun():
    import json, sys
    path = sys.argv[1]
    cfg = json.load(open(path))
    lin = cfg["linux"]
    lin.setdefault("devices", []).append(
        {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 438})
    lin.setdefault("resources", {}).setdefault("devices", []).append(
        {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"})
    json.dump(cfg, open(path, "w"))


# proxy-runtimes.sh
def cmd_nofile_4096():
    import json, sys
    cfg = json.load(open(sys.argv[1]))
    cfg["process"]["rlimits"] = [r for r in cfg["process"].get("rlimits", [])
                                 if r["type"] != "RLIMIT_NOFILE"]
    cfg["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096})
    json.dump(cfg, open(sys.argv[1], "w"), indent=2)


COMMANDS = {"drop-usr": cmd_drop_usr, "add-tun": cmd_add_tun, "nofile-4096": cmd_nofile_4096}

if __name__ == "__main__":
    subcommands.run(COMMANDS, __doc__)
