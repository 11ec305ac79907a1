# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Shell helpers shared by the devtools scripts, the demo, the tests and the
# benchmarks. Source it from bash:
#
#   . "$(dirname "$0")/common.sh"
#
# Functions:
#   die MSG...            print an error and exit 1
#   info MSG...           print a progress line on stderr
#   iovh_dpdk_version     the installed libdpdk-dev version (Debian version)
#   iovh_sdk_dir [VER]    where the driver-SDK headers for VER live
#   iovh_sdk_ready [DIR]  true when DIR holds every driver-SDK header
#   iovh_hugepages [N]    make sure N (default 1024) 2 MiB hugepages exist
#                         and hugetlbfs is mounted on /dev/hugepages
#   iovh_build_dir        the build directory (IOVH_BUILD_DIR, default build)
#   iovh_plugin_path [BUILD_DIR]
#                         a path to librte_net_iovhost.so that EAL accepts
#                         for -d (no world-writable directory in its path)

# Guard against double sourcing.
if [[ -n "${IOVH_COMMON_SOURCED:-}" ]]; then
	return 0
fi
IOVH_COMMON_SOURCED=1

IOVH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project needs to build, run the demo and test.
IOVH_PACKAGES=(
	dpdk dpdk-dev libdpdk-dev libnuma-dev python3-pyelftools
	meson ninja-build pkg-config gcc libc6-dev
	valgrind clang python3 xz-utils patch procps
	# devtools/fuzz.sh and sanitize.sh: clang's libFuzzer and sanitizer
	# runtimes, llvm-symbolizer for readable reports, gcc's runtimes
	libclang-rt-14-dev llvm libasan8 libubsan1
)

# The headers Debian's libdpdk-dev leaves out, and where they sit in the
# DPDK source tree.
IOVH_SDK_HEADERS=(
	drivers/bus/vdev/bus_vdev_driver.h
	lib/eal/include/dev_driver.h
	lib/ethdev/ethdev_driver.h
	lib/ethdev/ethdev_vdev.h
)

# Where the headers are cached, one directory per DPDK version.
IOVH_SDK_CACHE=${IOVH_SDK_CACHE:-/var/cache/iovhost}

# The plugin file name and its place in a build tree.
IOVH_PLUGIN_NAME=librte_net_iovhost.so
IOVH_PLUGIN_SUBPATH=drivers/net/vhost/$IOVH_PLUGIN_NAME

die()
{
	echo "${0##*/}: error: $*" >&2
	exit 1
}

info()
{
	echo "[iovhost] $*" >&2
}

warn()
{
	echo "${0##*/}: warning: $*" >&2
}

# sleep that a trapped signal interrupts at once (a plain foreground sleep
# holds the trap back until it ends).
iovh_sleep()
{
	sleep "$1" &
	wait $!
}

iovh_is_root()
{
	[[ $(id -u) -eq 0 ]]
}

# Version of the installed DPDK development package, e.g. 22.11.11-0+deb12u1.
iovh_dpdk_version()
{
	local v
	v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' libdpdk-dev 2>/dev/null) ||
		die "libdpdk-dev is not installed: run devtools/setup.sh first"
	[[ $v == installed\ * ]] ||
		die "libdpdk-dev is not installed: run devtools/setup.sh first"
	echo "${v#installed }"
}

# Include directory with the driver-SDK headers of DPDK version $1
# (default: the installed one).
# shellcheck disable=SC2120
iovh_sdk_dir()
{
	local ver=${1:-}
	[[ -n $ver ]] || ver=$(iovh_dpdk_version)
	echo "$IOVH_SDK_CACHE/sdk-$ver/include"
}

# True when the directory holds all driver-SDK headers.
iovh_sdk_ready()
{
	local dir=${1:-}
	[[ -n $dir ]] || dir=$(iovh_sdk_dir "")
	local h
	for h in "${IOVH_SDK_HEADERS[@]}"; do
		[[ -s $dir/${h##*/} ]] || return 1
	done
}

# Packages from IOVH_PACKAGES that are not installed, one per line.
iovh_missing_packages()
{
	local p st
	for p in "${IOVH_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=
		[[ $st == installed ]] || echo "$p"
	done
}

# Make sure at least $1 (default 1024) 2 MiB hugepages are reserved and
# hugetlbfs is mounted on /dev/hugepages. Only ever raises the count.
iovh_hugepages()
{
	local want=${1:-1024}
	local f=/proc/sys/vm/nr_hugepages
	local have
	have=$(cat "$f" 2>/dev/null) || die "cannot read $f"
	if (( have < want )); then
		iovh_is_root || die "only $have hugepages reserved, need $want: run as root"
		echo "$want" >"$f" 2>/dev/null ||
			die "cannot write $f (is /proc/sys read-only in this container?)"
		have=$(cat "$f")
		(( have >= want )) ||
			warn "asked for $want hugepages, the kernel gave $have (memory fragmented?)"
	fi
	if ! mountpoint -q /dev/hugepages; then
		iovh_is_root || die "hugetlbfs is not mounted on /dev/hugepages: run as root"
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages ||
			die "cannot mount hugetlbfs on /dev/hugepages"
	fi
	local free
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	if (( free < 256 )); then
		warn "only $free hugepages free: DPDK may fail to start" \
			"(stale files in /dev/hugepages from a crashed run?)"
	fi
	return 0
}

# The build directory, absolute.
iovh_build_dir()
{
	local b=${IOVH_BUILD_DIR:-build}
	[[ $b == /* ]] || b=$IOVH_ROOT/$b
	echo "$b"
}

# True when no directory from / down to $1, nor $1 itself, is writable by
# everyone (EAL refuses -d plugins in such places, sticky bit or not).
iovh_path_is_private()
{
	local p=$1 mode
	while :; do
		mode=$(stat -L -c '%a' "$p" 2>/dev/null) || return 1
		(( (8#$mode & 2) == 0 )) || return 1
		[[ $p == / ]] && return 0
		p=$(dirname "$p")
	done
}

# Print a path to the built plugin that EAL will load with -d. When the
# build tree is under a world-writable directory (/tmp, /var/tmp...), the
# plugin is copied to a private directory (IOVH_PLUGIN_DIR, default
# /run/iovhost/plugin for root, ~/.cache/iovhost/plugin otherwise), one
# sub-directory per build tree, and that copy's path is printed.
iovh_plugin_path()
{
	local build=${1:-}
	[[ -n $build ]] || build=$(iovh_build_dir)
	local src=$build/$IOVH_PLUGIN_SUBPATH
	[[ -f $src ]] || die "plugin not built: $src is missing (run devtools/build.sh)"
	src=$(realpath "$src")
	if iovh_path_is_private "$src"; then
		echo "$src"
		return 0
	fi

	local base=${IOVH_PLUGIN_DIR:-}
	if [[ -z $base ]]; then
		if iovh_is_root; then
			base=/run/iovhost/plugin
		else
			base=${XDG_CACHE_HOME:-$HOME/.cache}/iovhost/plugin
		fi
	fi
	# One directory per build tree, so parallel trees do not overwrite
	# each other's copy.
	local tag
	tag=$(printf '%s' "$(dirname "$src")" | sha1sum | cut -c1-12)
	local dir=$base/$tag
	(umask 022 && mkdir -p "$dir") || die "cannot create $dir"
	chmod 0755 "$dir"
	iovh_path_is_private "$dir" ||
		die "$dir (or a parent) is world-writable: set IOVH_PLUGIN_DIR to a private directory"
	local dst=$dir/$IOVH_PLUGIN_NAME
	if ! cmp -s "$src" "$dst"; then
		# Copy then rename, so a process loading the old copy never
		# sees a half-written file.
		local tmp
		tmp=$(mktemp "$dir/.plugin.XXXXXX") || die "cannot write in $dir"
		if ! { cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$dst"; }; then
			rm -f "$tmp"
			die "cannot copy the plugin to $dst"
		fi
	fi
	echo "$dst"
}

# ---------------------------------------------------------------------------
# Driving an interactive dpdk-testpmd from a script.
#
#   iovh_tp_start LOG TIMEOUT ARG...   start "dpdk-testpmd ARG..." (ARG must
#                                      include -i), wait for its first prompt;
#                                      TIMEOUT bounds the whole run (seconds)
#                                      (first prompt awaited IOVH_TP_START_WAIT s,
#                                      default 60: more under valgrind)
#   iovh_tp_cmd CMD [WAIT]             type CMD, wait (default 60 s) until
#                                      testpmd prompts again
#   iovh_tp_quit                       type quit, wait for the exit; returns
#                                      testpmd's exit status
#   iovh_tp_kill                       stop it now (for traps)
#   iovh_dpdk_cleanup PREFIX           remove what a --file-prefix=PREFIX
#                                      run left in /var/run/dpdk and
#                                      /dev/hugepages
#
# Output is line-buffered into LOG, so each command's output is in LOG by
# the time the next prompt shows. One testpmd per shell at a time.
# ---------------------------------------------------------------------------

IOVH_TESTPMD=${IOVH_TESTPMD:-/usr/bin/dpdk-testpmd}
IOVH_TP_PID=
IOVH_TP_FD=
IOVH_TP_LOG=
IOVH_TP_FIFO=
IOVH_TP_SENT=0

_iovh_tp_prompts()
{
	grep -o 'testpmd> ' "$IOVH_TP_LOG" 2>/dev/null | wc -l
}

_iovh_tp_alive()
{
	[[ -n $IOVH_TP_PID ]] && kill -0 "$IOVH_TP_PID" 2>/dev/null
}

# Wait until testpmd has printed at least $1 prompts, at most $2 seconds.
_iovh_tp_wait_prompts()
{
	local want=$1 secs=$2
	local deadline=$((SECONDS + secs))
	while (($(_iovh_tp_prompts) < want)); do
		if ! _iovh_tp_alive; then
			warn "testpmd exited unexpectedly; last lines of $IOVH_TP_LOG:"
			tail -n 25 "$IOVH_TP_LOG" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			warn "testpmd did not answer within ${secs}s; last lines of $IOVH_TP_LOG:"
			tail -n 25 "$IOVH_TP_LOG" >&2
			return 1
		fi
		sleep 0.05
	done
}

iovh_tp_start()
{
	local log=$1 limit=$2
	shift 2
	[[ -x $IOVH_TESTPMD ]] || die "$IOVH_TESTPMD not found (install the dpdk package)"
	[[ -z $IOVH_TP_PID ]] || die "a testpmd is already running (pid $IOVH_TP_PID)"
	IOVH_TP_LOG=$log
	IOVH_TP_SENT=0
	IOVH_TP_FIFO=$(mktemp -u "${TMPDIR:-/tmp}/iovh-tp-in.XXXXXX")
	mkfifo -m 0600 "$IOVH_TP_FIFO"
	: >"$log"
	# A broken pipe must come back as an error, not kill the script.
	trap '' PIPE
	stdbuf -oL -eL timeout -k 5 "$limit" "$IOVH_TESTPMD" "$@" \
		<"$IOVH_TP_FIFO" >"$log" 2>&1 &
	IOVH_TP_PID=$!
	exec {IOVH_TP_FD}>"$IOVH_TP_FIFO"
	rm -f "$IOVH_TP_FIFO"
	_iovh_tp_wait_prompts 1 "${IOVH_TP_START_WAIT:-60}"
}

iovh_tp_cmd()
{
	local cmd=$1 secs=${2:-60}
	_iovh_tp_alive || { warn "testpmd is not running (command: $cmd)"; return 1; }
	printf '%s\n' "$cmd" >&"$IOVH_TP_FD" || { warn "cannot write to testpmd"; return 1; }
	IOVH_TP_SENT=$((IOVH_TP_SENT + 1))
	_iovh_tp_wait_prompts $((IOVH_TP_SENT + 1)) "$secs"
}

iovh_tp_quit()
{
	local rc=0
	if _iovh_tp_alive; then
		{ printf 'quit\n' >&"$IOVH_TP_FD"; } 2>/dev/null || true
	fi
	if [[ -n $IOVH_TP_FD ]]; then
		exec {IOVH_TP_FD}>&-
		IOVH_TP_FD=
	fi
	if [[ -n $IOVH_TP_PID ]]; then
		# timeout(1) bounds this wait.
		wait "$IOVH_TP_PID" || rc=$?
		IOVH_TP_PID=
	fi
	return $rc
}

iovh_tp_kill()
{
	if [[ -n $IOVH_TP_FD ]]; then
		exec {IOVH_TP_FD}>&- 2>/dev/null || true
		IOVH_TP_FD=
	fi
	if _iovh_tp_alive; then
		# timeout(1) passes the signal on to testpmd.
		kill -TERM "$IOVH_TP_PID" 2>/dev/null || true
		local _
		for _ in $(seq 50); do
			_iovh_tp_alive || break
			sleep 0.1
		done
		if _iovh_tp_alive; then
			# SIGKILL is not passed on: kill timeout's child too.
			local kids
			kids=$(pgrep -P "$IOVH_TP_PID" 2>/dev/null | tr '\n' ' ') || true
			# shellcheck disable=SC2086
			kill -KILL $kids "$IOVH_TP_PID" 2>/dev/null || true
		fi
	fi
	[[ -z $IOVH_TP_PID ]] || wait "$IOVH_TP_PID" 2>/dev/null || true
	IOVH_TP_PID=
	[[ -z $IOVH_TP_FIFO ]] || rm -f "$IOVH_TP_FIFO"
	return 0
}

iovh_dpdk_cleanup()
{
	local prefix=$1
	[[ -n $prefix && $prefix != */* ]] || return 0
	rm -rf "/var/run/dpdk/$prefix"
	rm -f /dev/hugepages/"$prefix"map_* 2>/dev/null || true
}
