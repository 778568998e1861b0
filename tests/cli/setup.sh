#!/bin/bash
# setup.sh: `dnsjail setup ENGINE` on a fake root (--root): Docker's daemon.json gets the
# dnsjail runtimes merged in with every other key kept, and --undo gives back those keys
# exactly; containerd, CRI-O and podman get a drop-in of ours and nothing else changes;
# --dry-run writes nothing; a daemon.json it cannot parse is left alone with one line.
# Needs no root and no network: it runs with the unit tests.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# The value at a path of a JSON file, as python prints it (or "missing").
jget() { # FILE PYTHON-EXPRESSION-OF-d
    /usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
try: print(eval(sys.argv[2]))
except (KeyError, TypeError): print("missing")' "$1" "$2"
}
root=$tmp/root
dj=$root/etc/docker/daemon.json
mkdir -p "$root/etc/docker"
cat >"$dj" <<'JSON'
{"log-driver": "json-file", "max-concurrent-downloads": 3.0,
 "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}},
 "default-runtime": "runc", "labels": ["a=b"]}
JSON
keys_before=$(jget "$dj" 'sorted((k, json.dumps(v, sort_keys=True)) for k, v in d.items() if k not in ("runtimes", "default-runtime"))')
sum_before=$(sha256sum <"$dj")

run setup docker --root "$root" --dry-run
ok "docker --dry-run: exit 0, says what it would write" eval '[ "$rc" -eq 0 ] && out_has "would rewrite it"'
ok "... and writes nothing" eval '[ "$(jget "$dj" "d[\"runtimes\"].get(\"dnsjail\")")" = None ]'
run setup docker --root "$root" --default --profile web
ok "docker --default --profile web: exit 0, says to restart dockerd" eval '[ "$rc" -eq 0 ] && out_has "restart dockerd"'
ok "... runtime dnsjail is dnsjail-runtime" eval '[ "$(jget "$dj" "d[\"runtimes\"][\"dnsjail\"][\"path\"].endswith(\"/dnsjail-runtime\")")" = True ]'
ok "... dnsjail-web passes --profile web" eval '[ "$(jget "$dj" "d[\"runtimes\"][\"dnsjail-web\"][\"runtimeArgs\"]")" = "['"'"'--profile'"'"', '"'"'web'"'"']" ]'
ok "... the nvidia runtime is kept" eval '[ "$(jget "$dj" "d[\"runtimes\"][\"nvidia\"][\"path\"]")" = nvidia-container-runtime ]'
ok "... default-runtime is dnsjail" eval '[ "$(jget "$dj" "d[\"default-runtime\"]")" = dnsjail ]'
ok "... every other key as it was" eval '[ "$(jget "$dj" "sorted((k, json.dumps(v, sort_keys=True)) for k, v in d.items() if k not in (\"runtimes\", \"default-runtime\"))")" = "$keys_before" ]'
ok "... the number keeps its spelling (3.0)" grep -q '"max-concurrent-downloads": 3.0' "$dj"
sum=$(sha256sum <"$dj")
run setup docker --root "$root" --default --profile web
ok "run again: set up already, the file unchanged" eval '[ "$rc" -eq 0 ] && out_has "set up already" && [ "$(sha256sum <"$dj")" = "$sum" ]'
run setup docker --root "$root" --undo
ok "docker --undo: exit 0" test "$rc" -eq 0
ok "... no dnsjail runtime left, nvidia kept" eval '[ "$(jget "$dj" "sorted(d[\"runtimes\"])")" = "['"'"'nvidia'"'"']" ]'
ok "... default-runtime runc again" eval '[ "$(jget "$dj" "d[\"default-runtime\"]")" = runc ]'
ok "... every other key as it was" eval '[ "$(jget "$dj" "sorted((k, json.dumps(v, sort_keys=True)) for k, v in d.items() if k not in (\"runtimes\", \"default-runtime\"))")" = "$keys_before" ]'
ok "... nothing else changed since setup: the file byte for byte as it was, and says so" eval '[ "$(sha256sum <"$dj")" = "$sum_before" ] && out_has "as it was before dnsjail setup"'
ok "... setup's copy of it is gone" test ! -e "$dj.before-dnsjail"

# An admin's change after setup stays; --undo still gives back the default-runtime it replaced.
run setup docker --root "$root" --default
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d["debug"] = True; json.dump(d, open(sys.argv[1], "w"))' "$dj"
run setup docker --root "$root" --undo
ok "changed after setup, then --undo: exit 0, no dnsjail runtime left" eval '[ "$rc" -eq 0 ] && [ "$(jget "$dj" "sorted(d[\"runtimes\"])")" = "['"'"'nvidia'"'"']" ]'
ok "... the admin's later key kept" eval '[ "$(jget "$dj" "d[\"debug\"]")" = True ]'
ok "... default-runtime runc again" eval '[ "$(jget "$dj" "d[\"default-runtime\"]")" = runc ]'
ok "... setup's copy gone" test ! -e "$dj.before-dnsjail"

# An admin's own runtime under a dnsjail-* name is theirs: setup and --undo leave it alone.
cat >"$dj" <<'JSON'
{"runtimes": {"dnsjail-ci": {"path": "/opt/ci/dnsjail-runtime", "runtimeArgs": ["--config", "/etc/ci.conf"]},
              "dnsjail-web": {"path": "/usr/bin/dnsjail-runtime", "runtimeArgs": ["--profile", "web", "--config", "/etc/web.conf"]}},
 "default-runtime": "dnsjail-ci"}
JSON
admin_entries() { jget "$dj" 'json.dumps([d["runtimes"].get(k) for k in ("dnsjail-ci", "dnsjail-web")], sort_keys=True)'; }
entries_before=$(admin_entries)
run setup docker --root "$root"
ok "the admin's own dnsjail-ci and dnsjail-web: setup adds dnsjail" eval '[ "$rc" -eq 0 ] && [ "$(jget "$dj" "d[\"runtimes\"][\"dnsjail\"][\"path\"].endswith(\"/dnsjail-runtime\")")" = True ]'
ok "... and keeps theirs as they were" eval '[ "$(admin_entries)" = "$entries_before" ]'
run setup docker --root "$root" --undo
ok "--undo: removes dnsjail only" eval '[ "$rc" -eq 0 ] && [ "$(jget "$dj" "sorted(d[\"runtimes\"])")" = "['"'"'dnsjail-ci'"'"', '"'"'dnsjail-web'"'"']" ]'
ok "... keeps theirs as they were" eval '[ "$(admin_entries)" = "$entries_before" ]'
ok "... and their default-runtime dnsjail-ci" eval '[ "$(jget "$dj" "d[\"default-runtime\"]")" = dnsjail-ci ]'
sum=$(sha256sum <"$dj")
run setup docker --root "$root" --profile web
ok "--profile web where the admin has a dnsjail-web of their own: refused, one line naming it" eval '[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/out")" = 1 ] && out_has "\"dnsjail-web\"" && out_has "left as it is"'
ok "... and the file untouched" eval '[ "$(sha256sum <"$dj")" = "$sum" ]'

rm -f "$dj"
run setup docker --root "$root"
ok "docker without a daemon.json: creates one with only the runtime" eval '[ "$rc" -eq 0 ] && [ "$(jget "$dj" "sorted(d)")" = "['"'"'runtimes'"'"']" ]'
run setup docker --root "$root" --undo
ok "... --undo: no daemon.json again, as before setup" eval '[ "$rc" -eq 0 ] && [ ! -e "$dj" ] && [ ! -e "$dj.before-dnsjail" ]'
run setup docker --root "$root"
printf '{"runtimes": {"x": {}},\n' >"$dj"
sum=$(sha256sum <"$dj")
run setup docker --root "$root"
ok "a daemon.json that is not JSON: exit 1, one line naming it" eval '[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/out")" = 1 ] && out_has "daemon.json" && out_has "left as it is"'
ok "... and the file untouched" eval '[ "$(sha256sum <"$dj")" = "$sum" ]'
printf '{"runtimes": ["x"]}\n' >"$dj"
run setup docker --root "$root"
ok "runtimes not an object: refused" eval '[ "$rc" -eq 1 ] && out_has "\"runtimes\" is not an object"'

mkdir -p "$root/etc/containerd"
printf 'version = 2\n' >"$root/etc/containerd/config.toml"
run setup containerd --root "$root"
dropin=$root/etc/containerd/conf.d/dnsjail.toml
ok "containerd: the drop-in with the handler, BinaryName and pod_annotations" eval '[ "$rc" -eq 0 ] && grep -q "runtimes.dnsjail\]" "$dropin" && grep -q "BinaryName = \".*/dnsjail-runtime\"" "$dropin" && grep -q "pod_annotations = \[\"io.dnsjail.\*\"\]" "$dropin"'
ok "... says which imports line the main configuration lacks" out_has 'imports = ["/etc/containerd/conf.d/*.toml"]'
ok "... and leaves the main configuration alone" eval '[ "$(cat "$root/etc/containerd/config.toml")" = "version = 2" ]'
printf 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n' >"$root/etc/containerd/config.toml"
run setup containerd --root "$root"
ok "with the imports line: set up already, no note" eval '[ "$rc" -eq 0 ] && out_has "set up already" && ! out_has "add this line"'
run setup containerd --root "$root" --undo
ok "containerd --undo: the drop-in is gone" eval '[ "$rc" -eq 0 ] && [ ! -e "$dropin" ]'
run setup crio --root "$root"
ok "crio: a crio.conf.d drop-in with the dnsjail handler" eval '[ "$rc" -eq 0 ] && grep -q "^\[crio.runtime.runtimes.dnsjail\]" "$root/etc/crio/crio.conf.d/50-dnsjail.conf"'
ok "... the hooks.d directories, and runc passing the io.dnsjail.* annotations" eval 'grep -q "^hooks_dir = \[" "$root/etc/crio/crio.conf.d/50-dnsjail.conf" && grep -A1 "^\[crio.runtime.runtimes.runc\]" "$root/etc/crio/crio.conf.d/50-dnsjail.conf" | grep -q "io.dnsjail.allow"'
run setup podman --root "$root" --dry-run
ok "podman --dry-run: writes nothing" eval '[ "$rc" -eq 0 ] && [ ! -e "$root/etc/containers/containers.conf.d/50-dnsjail.conf" ] && out_has "would create"'
run setup podman --root "$root"
ok "podman: a containers.conf.d drop-in with the runtime" grep -q '^dnsjail = \[".*/dnsjail-runtime"\]' "$root/etc/containers/containers.conf.d/50-dnsjail.conf"
run setup crio --root "$root" --profile web
ok "--profile outside docker: a usage error pointing at io.dnsjail.profile" eval '[ "$rc" -eq 2 ] && out_has io.dnsjail.profile'
run setup lxc --root "$root"
ok "an unknown engine: a usage error" eval '[ "$rc" -eq 2 ] && out_has "unknown engine"'

echo "1..$n"
[ "$failed" -eq 0 ]
