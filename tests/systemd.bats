#!/usr/bin/env bats
# systemd.bats - the example units in examples/systemd/ are ones an admin can
# install as they are: systemd-analyze verify accepts them without a single
# warning (unknown keys, bad values and missing binaries are warnings too),
# they are templates whose @BINDIR@ `make install` replaces with the
# programs' directory, they start the programs with options those accept, the boot drain runs before
# the hub and after Redis and PostgreSQL, and the timer drives the flush
# service every 5 minutes. Without systemd-analyze the same facts are checked
# statically.

load helpers

# No Redis or PostgreSQL needed here.
setup_file() { :; }
teardown_file() { :; }

UNITS="bcast-hub.service bcast-flush-boot.service bcast-flush.service bcast-flush.timer bcast-prune.service bcast-prune.timer"

# key UNIT KEY: the values of KEY= in examples/systemd/UNIT, one per line.
key() { sed -nE "s/^$2=(.*)$/\1/p" "$REPO/examples/systemd/$1"; }

@test "systemd: every unit passes systemd-analyze verify with no warning" {
	# make test installs systemd (TEST_DEBS) so this check always runs
	command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: install package systemd"; false; }
	[ -x "$REPO/bin/bcast-hub" ] && [ -x "$REPO/bin/bcast-flush" ]
	# Point ExecStart at the built binaries, so verify checks that they exist.
	mkdir "$T/units"
	local u
	for u in $UNITS; do
		sed "s#@BINDIR@/#$REPO/bin/#g" "$REPO/examples/systemd/$u" >"$T/units/$u"
	done
	cd "$T/units"
	run systemd-analyze verify --man=no $UNITS
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "systemd: a broken unit is caught (the check can fail)" {
	command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: install package systemd"; false; }
	mkdir "$T/units"
	sed -e 's/^Type=oneshot/Type=oneshotx/' "$REPO/examples/systemd/bcast-flush.service" \
		>"$T/units/bcast-flush.service"
	cd "$T/units"
	run systemd-analyze verify --man=no bcast-flush.service
	[ -n "$output" ]
}

@test "systemd: units start the installed programs with options they accept" {
	local u
	for u in $UNITS; do [ -f "$REPO/examples/systemd/$u" ]; done
	[ "$(key bcast-hub.service ExecStart)" = @BINDIR@/bcast-hub ]
	[ "$(key bcast-flush-boot.service ExecStart)" = "@BINDIR@/bcast-flush --all" ]
	[ "$(key bcast-flush.service ExecStart)" = "@BINDIR@/bcast-flush --all" ]
	# The programs accept what the units pass.
	run "$REPO/bin/bcast-flush" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *--all* ]]
	[[ "$output" == *"--prune "* ]]
	run "$REPO/bin/bcast-hub" --help
	[ "$status" -eq 0 ]
	# Every documented man page exists in the repository.
	for u in $UNITS; do
		for m in $(key "$u" Documentation); do
			m=${m#man:}
			m="man/${m%%(*}.$(sed -E 's/.*\(([0-9])\)/\1/' <<<"$m")"
			[ -f "$REPO/$m" ] || { echo "$u: Documentation= names $m, which does not exist"; false; }
		done
	done
}

@test "systemd: boot drain before the hub, after Redis and PostgreSQL; timer every 5 min" {
	[ "$(key bcast-flush-boot.service Type)" = oneshot ]
	key bcast-flush-boot.service After | grep -qw redis-server.service
	key bcast-flush-boot.service After | grep -qw postgresql.service
	key bcast-flush-boot.service Before | grep -qw bcast-hub.service
	key bcast-hub.service After | grep -qw bcast-flush-boot.service
	key bcast-hub.service Wants | grep -qw bcast-flush-boot.service
	# The hub must not depend hard on the drain: a DB down at boot (exit 75)
	# must not keep the hub from serving live lines.
	[ -z "$(key bcast-hub.service Requires | grep -w bcast-flush-boot.service)" ]
	[ "$(key bcast-flush.service Type)" = oneshot ]
	[ "$(key bcast-flush.timer Unit)" = bcast-flush.service ]
	[ "$(key bcast-flush.timer OnUnitActiveSec)" = 5min ]
	[ "$(key bcast-flush.timer WantedBy)" = timers.target ]
	# Retention: a daily timer driving bcast-flush --prune (the configured age).
	[ "$(key bcast-prune.timer Unit)" = bcast-prune.service ]
	[ "$(key bcast-prune.timer OnCalendar)" = daily ]
	[ "$(key bcast-prune.service ExecStart)" = "@BINDIR@/bcast-flush --prune" ]
	# Every program shares one $STATE: XDG_STATE_HOME + StateDirectory=bcast.
	for u in bcast-hub.service bcast-flush-boot.service bcast-flush.service bcast-prune.service; do
		[ "$(key "$u" StateDirectory)" = bcast ]
		[ "$(key "$u" Environment)" = XDG_STATE_HOME=/var/lib ]
	done
}
