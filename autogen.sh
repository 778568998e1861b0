#!/bin/sh
# Regenerates the build system: ./autogen.sh && ./configure && make
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf -fi
# automake does not copy the TAP driver by itself.
if [ ! -f build-aux/tap-driver.sh ]; then
	for d in /usr/share/automake-*; do
		if [ -f "$d/tap-driver.sh" ]; then cp "$d/tap-driver.sh" build-aux/; break; fi
	done
fi
