#!/usr/bin/env bats
# install.bats - `make install` puts everything an operator needs under
# DESTDIR/PREFIX: the five programs, man pages, bash/zsh/fish completions,
# the systemd units with @BINDIR@ replaced by the real path, and
# /etc/bcast/bcast.conf (only when absent); `make uninstall` removes all of
# it again, but never an admin's edited configuration.

load helpers

setup_file() { :; }
teardown_file() { :; }

PROGS="bcast-emit bcast-event bcast-hub bcast-tail bcast-flush"
UNITS="bcast-hub.service bcast-flush-boot.service bcast-flush.service bcast-flush.timer bcast-prune.service bcast-prune.timer"

inst() { make -s -C "$REPO" "$@" DESTDIR="$T/root" >"$T/make.log" 2>&1 || { cat "$T/make.log"; return 1; }; }

@test "install: PREFIX=/usr puts programs, pages, completions, units and the config file in place" {
	inst install PREFIX=/usr
	local r=$T/root p u
	for p in $PROGS; do
		[ -x "$r/usr/bin/$p" ]
		[ -f "$r/usr/share/man/man1/$p.1" ]
		[ -f "$r/usr/share/bash-completion/completions/$p" ]
		[ -f "$r/usr/share/fish/vendor_completions.d/$p.fish" ]
	done
	[ -f "$r/usr/share/man/man7/bcast.7" ]
	[ -f "$r/usr/share/zsh/site-functions/_bcast" ]
	run "$r/usr/bin/bcast-hub" --version
	[ "$output" = "bcast-hub $(cat "$REPO/VERSION")" ]
	for u in $UNITS; do [ -f "$r/usr/lib/systemd/system/$u" ]; done
	grep -qx 'ExecStart=/usr/bin/bcast-hub' "$r/usr/lib/systemd/system/bcast-hub.service"
	grep -qx 'ExecStart=/usr/bin/bcast-flush --all' "$r/usr/lib/systemd/system/bcast-flush.service"
	run grep -rl '@BINDIR@' "$r/usr/lib/systemd/system"
	[ "$status" -eq 1 ]
	cmp "$REPO/examples/bcast.conf" "$r/etc/bcast/bcast.conf"
}

@test "install: units follow PREFIX and BINDIR" {
	inst install PREFIX=/opt/bc
	grep -qx 'ExecStart=/opt/bc/bin/bcast-hub' "$T/root/opt/bc/lib/systemd/system/bcast-hub.service"
	inst uninstall PREFIX=/opt/bc
	inst install PREFIX=/opt/bc BINDIR=/opt/bc/sbin UNITDIR=/etc/systemd/system
	grep -qx 'ExecStart=/opt/bc/sbin/bcast-flush --all' "$T/root/etc/systemd/system/bcast-flush-boot.service"
	[ -x "$T/root/opt/bc/sbin/bcast-flush" ]
}

@test "install: uninstall leaves no file behind" {
	inst install PREFIX=/usr/local
	[ "$(find "$T/root" -type f | wc -l)" -gt 20 ]
	inst uninstall PREFIX=/usr/local
	run find "$T/root" -type f -o -type l
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "left behind: $output"; false; }
	[ ! -d "$T/root/etc/bcast" ]
}

@test "install: an edited configuration file is never overwritten nor removed" {
	inst install PREFIX=/usr
	echo 'BCAST_LISTEN=0.0.0.0:9000' >>"$T/root/etc/bcast/bcast.conf"
	inst install PREFIX=/usr
	grep -qx 'BCAST_LISTEN=0.0.0.0:9000' "$T/root/etc/bcast/bcast.conf"
	inst uninstall PREFIX=/usr
	grep -qx 'BCAST_LISTEN=0.0.0.0:9000' "$T/root/etc/bcast/bcast.conf"
	[ "$(find "$T/root" -type f | wc -l)" -eq 1 ]
}

@test "a build on a machine without the -dev packages names them in one line, before compiling anything" {
	# pkg-config that finds no module stands for a machine without them.
	PKG_CONFIG_LIBDIR=$T/none run make -C "$REPO" all
	[ "$status" -ne 0 ]
	local out=$output msg p
	msg=$(grep "missing Debian packages: .*; install them, or run 'make deps' as root" <<<"$out")
	[ "$(wc -l <<<"$msg")" -eq 1 ]
	for p in libhiredis-dev libpq-dev libsqlite3-dev libjson-c-dev libcurl4-openssl-dev libevent-dev libssl-dev; do
		[[ $msg == *" $p"* ]]
	done
	run grep -c -e 'cc ' -e 'error:' <<<"$out"
	[ "$output" -eq 0 ]
}
