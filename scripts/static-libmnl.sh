#!/bin/bash
# Builds a static libmnl from Debian's own libmnl source package, for a hook that is one static
# binary (configure's --with-static-libmnl). Debian ships libmnl-dev with the shared library
# only; the rest of what the hook links (glibc, yajl, libnftnl) has its static archive packaged.
#
# As root: fetches the source package of the installed libmnl-dev's version with apt-get (which
# checks the files' hashes against the signed archive), using a temporary sources list and lists
# and cache directories of its own, so the host's apt configuration is left as it is; builds it
# with its own configure (static only, position independent, Debian's build flags). Where the
# archive serves no source packages, takes the libmnl.a that the next Debian release's
# libmnl-dev ships instead (see from_next_release). Installs libmnl.a alone, with the
# libmnl-dev version it was fetched for and where it came from, under
#
#     /usr/local/lib/dnsjail/libmnl   (DNSJAIL_STATIC_LIBMNL_DIR to put it elsewhere)
#
# The headers are libmnl-dev's. Does nothing when the archive there was fetched for the
# installed libmnl-dev already. Any failure is reported and leaves the build to link libmnl
# shared: this script exits 0 unless it is used wrongly. Nothing here is kept in dnsjail's tree.
# Usage: scripts/static-libmnl.sh
set -euo pipefail

prefix=${DNSJAIL_STATIC_LIBMNL_DIR:-/usr/local/lib/dnsjail/libmnl}
say() { echo "static-libmnl: $*" >&2; }
give_up() {
	say "$*; the hook will link libmnl shared"
	exit 0
}

[ $# -eq 0 ] || { echo "usage: $0" >&2; exit 2; }
version=$(dpkg-query -W -f='${source:Version}' libmnl-dev 2>/dev/null) ||
	give_up "libmnl-dev is not installed"
if [ -f "$prefix/libmnl.a" ] && [ "$(cat "$prefix/libmnl-dev-version" 2>/dev/null)" = "$version" ]; then
	exit 0
fi
[ "$(id -u)" -eq 0 ] || give_up "not root: cannot fetch libmnl $version's source with apt-get"
command -v dpkg-source >/dev/null || give_up "dpkg-source (dpkg-dev) is missing"

work=$(mktemp -d /tmp/dnsjail-libmnl.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt downloads as the unprivileged _apt user where it can: the directories it writes are its.
chmod 755 "$work"
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
chown -R _apt "$work/lists" "$work/src" 2>/dev/null || true

# The Debian repositories the host already uses, as deb-src: the same mirror and suites that
# libmnl-dev came from, verified with Debian's archive keys.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || give_up "no Debian archive keyring at $keyring"
# (ORIGIN is read from the downloaded Release file: empty before the host's first apt update.)
apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT) origin=$(ORIGIN)' |
	awk '$1 == "deb" && $5 == "origin=Debian" { print $2, $3, $4 }' | sort -u |
	while read -r uri suite component; do
		printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n\n' \
			"$uri" "$suite" "$component" "$keyring"
	done >"$work/sources.list.d/debian-src.sources"
[ -s "$work/sources.list.d/debian-src.sources" ] || give_up "apt lists no Debian repository"

private_apt() {
	apt-get -q -o Dir::Etc::SourceList=/dev/null \
		-o Dir::Etc::SourceParts="$work/sources.list.d" \
		-o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" \
		-o DPkg::Lock::Timeout=300 "$@"
}
# Route 1: Debian's source package of the installed version, built here.
from_source() {
	say "fetching libmnl $version's source"
	private_apt update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; return 1; }
	(cd "$work/src" && private_apt source --download-only "libmnl=$version") >>"$work/apt.log" 2>&1 ||
		{ grep '^E:' "$work/apt.log" >&2; say "apt-get source libmnl=$version failed"; return 1; }
	# apt checked every file against the Sources index that the archive's Release file signs;
	# the .dsc's own signature adds nothing to that (and needs a keyring dpkg-source lacks).
	(cd "$work/src" && dpkg-source --no-check -x libmnl_*.dsc build) >>"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; say "dpkg-source could not unpack libmnl's source"; return 1; }
	say "building libmnl $version (static, position independent)"
	(
		# set -e does not hold in a function called with ||: each step is chained.
		cd "$work/src/build" &&
			./configure --prefix="$work/install" --enable-static --disable-shared \
				CFLAGS="$(dpkg-buildflags --get CFLAGS) -fPIE" \
				CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)" &&
			make -j"$(nproc)" &&
			make install
	) >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; say "building libmnl failed"; return 1; }
	archive=$work/install/lib/libmnl.a
	origin="built from Debian's libmnl $version source package"
}

# Route 2, where the archive serves no source packages: Debian 13 (trixie) builds libmnl-dev
# with its static archive, position independent like all of Debian's objects, against the same
# interface (libmnl 1.0.5 adds to 1.0.4 and changes nothing). Its package, checked by apt like
# any other, is unpacked here, not installed. configure then links and runs a static hook with
# it before it uses it.
from_next_release() {
	local next
	case "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" in
	bookworm) next=trixie ;;
	*) say "no newer Debian release known to take libmnl-dev's static archive from"; return 1 ;;
	esac
	# The host's main suite (not -updates, not -security) renamed; set -e does not hold in a
	# function called with ||, so every step is checked.
	sed -e 's/^Types: deb-src$/Types: deb/' "$work/sources.list.d/debian-src.sources" |
		awk -v next_suite="$next" '/^Suites: / { if ($2 ~ /-/) skip = 1; else $2 = next_suite }
			/^$/ { if (!skip) printf "%s", block; block = ""; skip = 0; print; next }
			{ block = block $0 "\n" }' >"$work/next.sources" &&
		grep -q "^Suites: $next\$" "$work/next.sources" &&
		rm -f "$work/sources.list.d/debian-src.sources" &&
		mv "$work/next.sources" "$work/sources.list.d/debian-next.sources" ||
		{ say "no main Debian suite in apt's sources to take $next's from"; return 1; }
	say "fetching Debian $next's libmnl-dev for its libmnl.a"
	private_apt update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; return 1; }
	(cd "$work/src" && private_apt download "libmnl-dev:$(dpkg --print-architecture)") >>"$work/apt.log" 2>&1 ||
		{ grep '^E:' "$work/apt.log" >&2; say "apt-get download libmnl-dev ($next) failed"; return 1; }
	mkdir "$work/deb"
	dpkg-deb -x "$work"/src/libmnl-dev_*.deb "$work/deb" || return 1
	archive=$(find "$work/deb" -name libmnl.a -type f | head -n 1)
	[ -n "$archive" ] || { say "Debian $next's libmnl-dev has no libmnl.a"; return 1; }
	origin="Debian $next's libmnl-dev $(dpkg-deb -f "$work"/src/libmnl-dev_*.deb Version)"
}

archive=
from_source || from_next_release || give_up "no static libmnl"
[ -f "$archive" ] || give_up "no libmnl.a came out of it"

mkdir -p "$prefix"
install -m 644 "$archive" "$prefix/libmnl.a.new"
mv "$prefix/libmnl.a.new" "$prefix/libmnl.a"
echo "$version" >"$prefix/libmnl-dev-version"
echo "$origin" >"$prefix/origin"
say "installed $prefix/libmnl.a ($origin)"
