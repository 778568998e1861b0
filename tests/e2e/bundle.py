#!/usr/bin/env python3
"""Edits the config.json that `runc spec` wrote in a test bundle.

usage: bundle.py CONFIG.JSON [options] -- ARGS...
  --annotation K=V         add an annotation (repeatable)
  --hook PATH --hook-config CONF
                           run PATH at prestart and poststop (args: dnsjail-hook --config CONF STAGE)
  --hook-env K=V            an environment variable for the hook (repeatable)
  --hook-stage STAGE       hook stage for the "create" side (default prestart; e.g. createRuntime)
  --netns PATH             join that network namespace
  --no-netns               no "network" namespace entry: the container shares the runtime's
  --add-cap CAP[:SET]      add a capability to SET (default: bounding) (repeatable)
  --bind SRC:DST           read-only bind mount (repeatable)
  --env K=V                add an environment variable (repeatable)
  --no-usr                 do not bind the host's /usr: the rootfs holds what the container runs
Always: terminal false, a tmpfs on /tmp; the host's /usr bound read-only at /usr unless --no-usr.
"""
import json
import sys


def main():
    path = sys.argv[1]
    argv = sys.argv[2:]
    if "--" in argv:
        split = argv.index("--")
        opts, args = argv[:split], argv[split + 1:]
    else:
        opts, args = argv, None
    with open(path) as f:
        cfg = json.load(f)

    proc = cfg["process"]
    proc["terminal"] = False
    if args is not None:
        proc["args"] = args
    cfg.setdefault("annotations", {})
    mounts = cfg["mounts"]
    if "--no-usr" not in opts:
        mounts.append({"destination": "/usr", "type": "bind", "source": "/usr",
                       "options": ["rbind", "ro"]})
    mounts.append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "mode=1777"]})
    namespaces = cfg["linux"]["namespaces"]
    hook = hook_config = None
    hook_env = []
    hook_stage = "prestart"

    i = 0
    while i < len(opts):
        opt = opts[i]
        val = opts[i + 1] if i + 1 < len(opts) else None
        i += 2
        if opt == "--annotation":
            k, v = val.split("=", 1)
            cfg["annotations"][k] = v
        elif opt == "--hook":
            hook = val
        elif opt == "--hook-config":
            hook_config = val
        elif opt == "--hook-env":
            hook_env.append(val)
        elif opt == "--hook-stage":
            hook_stage = val
        elif opt == "--netns":
            for ns in namespaces:
                if ns["type"] == "network":
                    ns["path"] = val
        elif opt == "--no-netns":
            namespaces[:] = [ns for ns in namespaces if ns["type"] != "network"]
            i -= 1
        elif opt == "--no-usr":
            i -= 1
        elif opt == "--add-cap":
            cap, _, cap_set = val.partition(":")
            cap_set = cap_set or "bounding"
            caps = proc["capabilities"].setdefault(cap_set, [])
            if cap not in caps:
                caps.append(cap)
        elif opt == "--bind":
            src, dst = val.split(":", 1)
            mounts.append({"destination": dst, "type": "bind", "source": src,
                           "options": ["rbind", "ro"]})
        elif opt == "--env":
            proc["env"].append(val)
        else:
            sys.exit("bundle.py: unknown option " + opt)

    if hook:
        def entry(stage):
            args = ["dnsjail-hook"]
            if hook_config:
                args += ["--config", hook_config]
            e = {"path": hook, "args": args + [stage], "timeout": 10}
            if hook_env:
                e["env"] = hook_env
            return e
        cfg["hooks"] = {hook_stage: [entry(hook_stage)], "poststop": [entry("poststop")]}

    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


if __name__ == "__main__":
    main()
