#!/usr/bin/env bats
# deb.bats - the Debian package, built by `make deb`, installed the way an
# operator would on a fresh bookworm machine: a debootstrap'd root (cached in
# $BCAST_DEB_CACHE, default /var/cache/bcast-test, so that only the first run
# on a machine pays for debootstrap), the package installed by apt (which
# fetches its dependencies and runs dpkg -i), the units verified by that
# root's systemd-analyze, the hub started exactly as bcast-hub.service's
# ExecStart= line runs it, as the bcast user, a run emitted and read back,
# then remove (data kept) and purge (nothing left). Needs root (chroot,
# mount) and Debian's apt mirror.

load helpers

setup_file() {
	[ "$(id -u)" = 0 ] || { echo "deb.bats needs root (chroot)" >&2; return 1; }
	CACHE=${BCAST_DEB_CACHE:-/var/cache/bcast-test}
	DEB_ARCH=$(dpkg --print-architecture)
	DEB="$REPO/build/deb/bcast_$(cat "$REPO/VERSION")_$DEB_ARCH.deb"
	export CACHE DEB
	# Built once for the file; the first test checks the result.
	local rc=0
	make -s -C "$REPO" deb >"$BATS_FILE_TMPDIR/make-deb.log" 2>&1 || rc=$?
	echo "$rc" >"$BATS_FILE_TMPDIR/make-deb.rc"
}
teardown_file() { :; }

teardown() {
	[ -n "${R:-}" ] && mountpoint -q "$R/proc" && umount "$R/proc"
	bc_teardown
}

# in_root CMD...: run CMD inside the package's root as root.
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

# unit_key UNIT KEY: the value of KEY= in the installed UNIT.
unit_key() { sed -nE "s/^$2=(.*)$/\1/p" "$R/lib/systemd/system/$1"; }

# fresh_root: a copy of the cached debootstrap'd root in $R, /proc mounted,
# the host's resolver, apt's download cache reused from earlier runs, and
# services not started by maintainer scripts (there is no init here).
fresh_root() {
	local base
	base=$("$REPO/tests/debroot.sh" "$CACHE") || return 1
	R=$T/root
	cp -a "$base" "$R"
	cp /etc/resolv.conf "$R/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod 755 "$R/usr/sbin/policy-rc.d"
	mount -t proc proc "$R/proc"
	mkdir -p "$CACHE/archives"
	cp "$CACHE"/archives/*.deb "$R/var/cache/apt/archives/" 2>/dev/null || :
}

@test "deb: make deb builds bcast_VERSION_ARCH.deb, lintian clean of errors" {
	run cat "$BATS_FILE_TMPDIR/make-deb.log"
	echo "$output"
	[ "$(cat "$BATS_FILE_TMPDIR/make-deb.rc")" = 0 ]
	[ -f "$DEB" ]
	# lintian ran inside make deb with --fail-on error; its verdict again:
	run lintian --fail-on error "$DEB"
	[ "$status" -eq 0 ]
	run dpkg-deb -c "$DEB"
	local p
	for p in bcast-emit bcast-event bcast-hub bcast-tail bcast-flush; do
		[[ $output == *" ./usr/bin/$p"* ]]
		[[ $output == *" ./usr/share/man/man1/$p.1.gz"* ]]
		[[ $output == *" ./usr/share/bash-completion/completions/$p"* ]]
		[[ $output == *" ./usr/share/fish/vendor_completions.d/$p.fish"* ]]
	done
	[[ $output == *" ./usr/share/zsh/site-functions/_bcast"* ]]
	[[ $output == *" ./usr/share/man/man7/bcast.7.gz"* ]]
	[[ $output == *" ./lib/systemd/system/bcast-hub.service"* ]]
	[[ $output == *" ./lib/systemd/system/bcast-prune.timer"* ]]
	[[ $output == *" ./etc/bcast/bcast.conf"* ]]
	run dpkg-deb -f "$DEB" Version
	[ "$output" = "$(cat "$REPO/VERSION")" ]
	# /etc/bcast/bcast.conf is a conffile: an admin's edits survive upgrades.
	dpkg-deb -e "$DEB" "$T/ctrl"
	grep -qx /etc/bcast/bcast.conf "$T/ctrl/conffiles"
}

@test "deb: on a fresh bookworm root: install, verify units, hub as the unit runs it, emit, read back, remove, purge" {
	[ -f "$DEB" ]
	fresh_root
	cp "$DEB" "$R/tmp/"
	in_root apt-get update -qq
	# apt installs the dependencies and runs dpkg -i on the package.
	run in_root apt-get install -y -qq --no-install-recommends "/tmp/${DEB##*/}"
	echo "$output"
	[ "$status" -eq 0 ]
	cp -n "$R"/var/cache/apt/archives/*.deb "$CACHE/archives/" 2>/dev/null || :

	# The user, the state directory, the configuration.
	in_root getent passwd bcast
	[ "$(in_root stat -c %U:%G /var/lib/bcast)" = bcast:bcast ]
	[ -f "$R/etc/bcast/bcast.conf" ]

	# Units: absolute /usr/bin paths, accepted by systemd; the hub, the boot
	# drain and the flush timer enabled, retention not.
	[ "$(unit_key bcast-hub.service ExecStart)" = /usr/bin/bcast-hub ]
	[ "$(unit_key bcast-hub.service User)" = bcast ]
	run in_root systemd-analyze verify --man=no \
		/lib/systemd/system/bcast-hub.service /lib/systemd/system/bcast-flush-boot.service \
		/lib/systemd/system/bcast-flush.service /lib/systemd/system/bcast-flush.timer
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -L "$R/etc/systemd/system/multi-user.target.wants/bcast-hub.service" ]
	[ -L "$R/etc/systemd/system/timers.target.wants/bcast-flush.timer" ]
	[ -f "$R/lib/systemd/system/bcast-prune.timer" ]
	[ ! -e "$R/etc/systemd/system/timers.target.wants/bcast-prune.timer" ]
	in_root systemd-analyze verify --man=no /lib/systemd/system/bcast-prune.service \
		/lib/systemd/system/bcast-prune.timer

	# The hub as the unit starts it: its ExecStart= line, as User=, with its
	# Environment=; the port moved off 8090 (so parallel runs do not
	# collide) the way an admin would, in /etc/bcast/bcast.conf.
	local port exec envs
	port=$(free_port)
	exec=$(unit_key bcast-hub.service ExecStart)
	envs=$(unit_key bcast-hub.service Environment)
	echo "BCAST_LISTEN=127.0.0.1:$port" >>"$R/etc/bcast/bcast.conf"
	chroot --userspec="$(unit_key bcast-hub.service User):$(unit_key bcast-hub.service Group)" "$R" \
		env -i PATH=/usr/bin:/bin $envs $exec 2>"$T/hub.log" &
	BC_PIDS+=($!)
	export HUB_PORT=$port
	wait_for 10 hub_healthy || { cat "$T/hub.log"; false; }

	# A run emitted on that machine by the bcast user, read back over HTTP.
	chroot --userspec=bcast:bcast "$R" env -i PATH=/usr/bin:/bin $envs BCAST_REDIS=none \
		BCAST_HUB="http://127.0.0.1:$port" bcast-emit -t deb-run -- sh -c 'echo one; echo two'
	run curl -sf "http://127.0.0.1:$port/admin/runs/deb-run/logs"
	[ "$status" -eq 0 ]
	[[ $output == *'"seq":1,'*'"line":"one"'*'"seq":2,'*'"line":"two"'* ]]
	# ... and it is in the state directory's database, owned by bcast.
	[ "$(sqlite3 "$R/var/lib/bcast/bcast.db" "SELECT group_concat(line) FROM thread_logs WHERE thread_id='deb-run'")" = one,two ]
	kill "${BC_PIDS[-1]}"
	wait "${BC_PIDS[-1]}" || :

	# Remove keeps the data, the user and the configuration.
	in_root dpkg -L bcast >"$T/files"
	in_root dpkg --remove bcast
	[ ! -e "$R/usr/bin/bcast-hub" ]
	[ -f "$R/var/lib/bcast/bcast.db" ]
	[ -f "$R/etc/bcast/bcast.conf" ]
	in_root getent passwd bcast

	# Purge removes everything.
	in_root dpkg --purge bcast
	[ ! -e "$R/var/lib/bcast" ]
	[ ! -e "$R/etc/bcast" ]
	run in_root getent passwd bcast
	[ "$status" -ne 0 ]
	run in_root getent group bcast
	[ "$status" -ne 0 ]
	local f left=()
	while read -r f; do
		[ -d "$R$f" ] || [ ! -e "$R$f" ] || left+=("$f")
	done <"$T/files"
	[ "${#left[@]}" -eq 0 ] || { echo "left behind: ${left[*]}"; false; }
	run find "$R/etc/systemd" -name 'bcast*'
	[ -z "$output" ]
}
