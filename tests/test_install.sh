#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# `meson install` (doc/install.rst):
#  - installs into a staging directory (meson install --destdir) the plugin
#    in <libdir>/iovhost/pmds (no world-writable directory on its path),
#    libiovhost.so with its soname links, iovhost.pc, the header in
#    <includedir>/iovhost/, iovhost-frontend (when built) and the guides in
#    <datadir>/doc/iovhost (HTML when built with -Denable_docs=true, else
#    every doc/*.rst of the tree);
#  - no installed binary keeps a run path into the build directory, and
#    libiovhost.so exports iovh_* symbols only;
#  - a small C program built with `pkg-config --cflags --libs iovhost`
#    (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR pointing into the staging
#    directory) links against the installed library, runs with
#    LD_LIBRARY_PATH and prints iovh_version() = "iovhost <VERSION>";
#  - testpmd loads the installed plugin, by file and by directory (-d), and
#    our driver probes net_vhost0 (its log line with the tree's version,
#    no stock probe), creates the socket and removes it on quit.

. "$(dirname "$0")/lib.sh"
require_ours "loads the installed iovhost plugin"

BUILD=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}
[ -f "$BUILD/build.ninja" ] || fail "no configured build directory at $BUILD (set IOVH_BUILD_DIR)"
for tool in meson pkg-config cc readelf nm python3; do
	command -v "$tool" > /dev/null || fail "$tool not found (devtools/setup.sh installs it)"
done

# ---------------------------------------------------------------- install

# Below IOVH_WORK_DIR (under /run, checked by run.sh): EAL refuses a -d
# plugin below a world-writable directory such as /tmp.
dest=$IOVH_WORK_DIR/destdir
rm -rf "$dest"
mkdir -m 0755 "$dest"
# --no-rebuild: install what the build directory holds, as built; run.sh
# is run after the build.
say "meson install -C $BUILD --destdir $dest"
meson install -C "$BUILD" --destdir "$dest" --no-rebuild --quiet > "$IOVH_LOG_DIR/install.log" 2>&1 || {
	tail -n 20 "$IOVH_LOG_DIR/install.log" | sed 's/^/    | /'
	fail "meson install failed (log $IOVH_LOG_DIR/install.log)"
}

# opt NAME: value of meson option NAME of the build directory.
opts=$(meson introspect "$BUILD" --buildoptions)
opt() {
	python3 -c 'import json, sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        v = o["value"]
        print(str(v).lower() if isinstance(v, bool) else v)' "$1" <<< "$opts"
}
# dir NAME: absolute installed path of directory option NAME (as meson:
# relative to the prefix unless absolute).
prefix=$(opt prefix)
dir() {
	local d
	d=$(opt "$1")
	[[ $d == /* ]] && echo "$d" || echo "$prefix/$d"
}
[ -n "$prefix" ] || fail "cannot read the install prefix from meson introspect"
libdir=$(dir libdir)
incdir=$(dir includedir)
bindir=$(dir bindir)
docdir=$(dir datadir)/doc/iovhost
pmddir=$libdir/iovhost/pmds
say "prefix $prefix, libdir $libdir, plugin directory $pmddir"

expect_file() {
	[ -f "$dest$1" ] || fail "expected $1 to be installed (not in $dest)"
	say "ok: installed $1"
}
expect_file "$pmddir/librte_net_iovhost.so"
expect_file "$libdir/libiovhost.so.$IOVH_VERSION"
for l in libiovhost.so libiovhost.so.0; do
	[ -L "$dest$libdir/$l" ] || fail "expected the link $libdir/$l"
	[ "$(realpath "$dest$libdir/$l")" = "$(realpath "$dest$libdir/libiovhost.so.$IOVH_VERSION")" ] ||
		fail "$libdir/$l does not point at libiovhost.so.$IOVH_VERSION"
done
say "ok: libiovhost.so and libiovhost.so.0 link to libiovhost.so.$IOVH_VERSION"
expect_file "$libdir/pkgconfig/iovhost.pc"
expect_file "$incdir/iovhost/iovhost.h"
cmp -s "$dest$incdir/iovhost/iovhost.h" "$IOVH_SRC_DIR/lib/vhost/iovhost.h" ||
	fail "installed iovhost.h differs from lib/vhost/iovhost.h"
if [ "$(opt frontend)" = true ]; then
	expect_file "$bindir/iovhost-frontend"
	[ -x "$dest$bindir/iovhost-frontend" ] || fail "$bindir/iovhost-frontend is not executable"
	"$dest$bindir/iovhost-frontend" --help > /dev/null 2>&1 ||
		fail "installed iovhost-frontend --help failed"
	say "ok: installed iovhost-frontend runs"
fi

# The guides: one page per doc/*.rst, HTML or source.
shopt -s nullglob
rst=("$IOVH_SRC_DIR"/doc/*.rst)
[ ${#rst[@]} -gt 0 ] || fail "no doc/*.rst in the source tree"
if [ "$(opt enable_docs)" = true ]; then
	kind=html
	for f in "${rst[@]}"; do
		expect_file "$docdir/html/$(basename "$f" .rst).html"
	done
else
	kind=rst
	for f in "${rst[@]}"; do
		expect_file "$docdir/$(basename "$f")"
	done
	[ ! -e "$dest$docdir/meson.build" ] || fail "doc/meson.build installed with the guides"
fi
say "ok: ${#rst[@]} guides installed as $kind in $docdir"

# No directory on the plugin's path may be world-writable (EAL would
# refuse the plugin), from / down to the plugin directory itself.
d=$dest$pmddir
while [ "$d" != / ]; do
	m=$(stat -c %a "$d")
	[ $(( 0$m & 02 )) = 0 ] || fail "$d is world-writable ($m): EAL would refuse the plugin"
	d=$(dirname "$d")
done
say "ok: no world-writable directory on the path of $pmddir"

# Installed binaries must not look for libraries in the build tree.
elfs=("$dest$pmddir/librte_net_iovhost.so" "$dest$libdir/libiovhost.so.$IOVH_VERSION")
[ "$(opt frontend)" = true ] && elfs+=("$dest$bindir/iovhost-frontend")
for f in "${elfs[@]}"; do
	rp=$(readelf -d "$f" | grep -E 'R(UN)?PATH' || true)
	[ -z "$rp" ] || fail "$f keeps a run path: $rp"
done
say "ok: no RPATH/RUNPATH in the installed binaries"

# The shared library's ABI is iovh_* only (never rte_vhost_*), and the
# plugin exports nothing of the library.
bad=$(nm -D --defined-only "$dest$libdir/libiovhost.so.$IOVH_VERSION" |
	awk '$2 ~ /^[TDBRW]$/ && $3 !~ /^iovh_/ && $3 !~ /^IOVHOST_/ { print $3 }')
[ -z "$bad" ] || fail "libiovhost.so exports symbols outside iovh_*: $(tr '\n' ' ' <<< "$bad")"
nm -D --defined-only "$dest$libdir/libiovhost.so.$IOVH_VERSION" | grep -qw iovh_version ||
	fail "libiovhost.so does not export iovh_version"
bad=$(nm -D --defined-only "$dest$pmddir/librte_net_iovhost.so" | awk '$3 ~ /^(iovh_|rte_vhost_)/ { print $3 }')
[ -z "$bad" ] || fail "the plugin exports library symbols: $(tr '\n' ' ' <<< "$bad")"
say "ok: libiovhost.so exports iovh_* only; the plugin exports none of them"

# ------------------------------------------------------- link a program

export PKG_CONFIG_PATH=$dest$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$dest
v=$(pkg-config --modversion iovhost) || fail "pkg-config does not find iovhost.pc in $PKG_CONFIG_PATH"
expect_eq "pkg-config --modversion iovhost" "$v" "$IOVH_VERSION"
flags=$(pkg-config --cflags --libs iovhost) || fail "pkg-config --cflags --libs iovhost failed"
say "pkg-config --cflags --libs iovhost: $flags"
grep -q -- "-I$dest$incdir/iovhost" <<< "$flags" || fail "cflags do not point at $dest$incdir/iovhost: $flags"
grep -q -- "-L$dest$libdir" <<< "$flags" || fail "libs do not point at $dest$libdir: $flags"

prog_dir=$IOVH_WORK_DIR/prog
mkdir -p "$prog_dir"
cat > "$prog_dir/version.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include <iovhost.h>

int
main(void)
{
	const char *v = iovh_version();

	if (v == NULL)
		return 1;
	printf("%s max_queue_pairs=%d\n", v, IOVH_MAX_QUEUE_PAIRS);
	return strncmp(v, "iovhost ", 8) != 0;
}
EOF
# shellcheck disable=SC2086 # pkg-config output is a list of flags
cc -std=gnu11 -Wall -Wextra -Werror -o "$prog_dir/version" "$prog_dir/version.c" $flags \
	> "$IOVH_LOG_DIR/cc.log" 2>&1 || {
	sed 's/^/    | /' "$IOVH_LOG_DIR/cc.log"
	fail "cannot compile and link a program against the installed library"
}
readelf -d "$prog_dir/version" | grep -q 'NEEDED.*libiovhost\.so\.0' ||
	fail "the program does not depend on libiovhost.so.0"
say "ok: compiled and linked $prog_dir/version against the installed library"
out=$(LD_LIBRARY_PATH=$dest$libdir "$prog_dir/version" 2>&1) ||
	fail "the program failed: $out"
expect_eq "iovh_version() of the installed library" "${out%% max_queue_pairs=*}" "iovhost $IOVH_VERSION"
lib=$(LD_LIBRARY_PATH=$dest$libdir ldd "$prog_dir/version" | awk '$1 == "libiovhost.so.0" { print $3 }')
expect_eq "libiovhost.so.0 resolved to" "$lib" "$dest$libdir/libiovhost.so.0"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# ------------------------------------------------------- load the plugin

# probe_installed NAME PLUGIN: testpmd with -d PLUGIN probes net_vhost0
# with our driver, serves the socket, removes it on quit.
probe_installed() {
	local name=$1 sock=$IOVH_WORK_DIR/$1.sock
	# shellcheck disable=SC2034 # read by tp_start (lib.sh)
	IOVH_PLUGIN=$2
	rm -f "$sock"
	# No hugepages needed just to probe.
	tp_start "$name" --no-huge -m 512 --vdev "net_vhost0,iface=$sock" -- --nb-cores=1
	tp_ready "$name"
	assert_driver "$name"
	[ -S "$sock" ] || fail "$name: no socket $sock while testpmd runs"
	tp_quit "$name"
	[ ! -e "$sock" ] || fail "$name: socket $sock still there after quit"
	say "ok: -d $2: our driver probed net_vhost0 and served $sock"
}
probe_installed by-file "$dest$pmddir/librte_net_iovhost.so"
probe_installed by-dir "$dest$pmddir"

rm -rf "$dest" "$prog_dir"
say "ok: meson install gives a usable plugin, library, pkg-config file, header and guides"
