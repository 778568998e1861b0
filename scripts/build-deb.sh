#!/bin/bash
# Builds the Debian package from the tracked files of this checkout, in _build-deb/ (so the
# source tree stays clean and dpkg-buildpackage's outputs land there, not in the parent
# directory), then checks that the .deb holds what podman and CRI-O need.
# Usage: scripts/build-deb.sh   (needs: scripts/install-deps.sh package)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(dpkg-parsechangelog -S Version)
out=_build-deb
src=$out/dnsjail-$version
rm -rf "$out" && mkdir -p "$src"
git ls-files -z | xargs -0 cp --parents -t "$src"
(cd "$src" && dpkg-buildpackage -us -uc -b)
deb=$(ls "$out"/dnsjail_"$version"_*.deb)
echo "build-deb: $deb"

# What the package must contain; a missing path fails the build.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
status=0
for path in ./usr/libexec/dnsjail/dnsjail-hook ./usr/libexec/dnsjail/dnsjail-dnsstub \
	./usr/libexec/dnsjail/dnsjail-proxy \
	./usr/share/containers/oci/hooks.d/dnsjail-prestart.json \
	./usr/share/containers/oci/hooks.d/dnsjail-poststop.json \
	./usr/share/dnsjail/dnsjail.conf; do
	if ! grep -qxF "$path" <<<"$contents"; then
		echo "build-deb: $deb lacks $path" >&2
		status=1
	fi
done
# The hooks.d files must name the installed hook, not a build path.
hookjson=$(dpkg-deb --fsys-tarfile "$deb" |
	tar -xO ./usr/share/containers/oci/hooks.d/dnsjail-prestart.json)
if ! grep -q '"/usr/libexec/dnsjail/dnsjail-hook"' <<<"$hookjson"; then
	echo "build-deb: the prestart hooks.d file does not point at /usr/libexec/dnsjail/dnsjail-hook" >&2
	status=1
fi
exit $status
