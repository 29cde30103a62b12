#!/usr/bin/env bats
# cli.bats - one usage-error path for all five programs (src/common/cli.c):
# a bad flag is one line naming the program (never the path it was run by)
# and the flag, then the --help hint, on stderr, exit 64, nothing on stdout;
# numeric options say what they expect and what they got.

load helpers

PROGS="bcast-emit bcast-event bcast-hub bcast-tail bcast-flush"

# usage_error PROG MESSAGE ARGS...: PROG, run by its full path with ARGS,
# exits 64 printing exactly "PROG: MESSAGE" and the hint, stdout empty.
usage_error() {
	local p=$1 msg=$2 out; shift 2
	run "$REPO/bin/$p" "$@" </dev/null
	[ "$status" -eq 64 ] || { echo "$p $*: exit $status: $output"; return 1; }
	[ "$output" = "$p: $msg
Try '$p --help' for more information." ] || { echo "$p $*: got: $output"; return 1; }
	out=$("$REPO/bin/$p" "$@" </dev/null 2>/dev/null) || true
	[ -z "$out" ] || { echo "$p $*: wrote to stdout: $out"; return 1; }
}

@test "cli: an unknown option is named in one line, then the hint, exit 64" {
	for p in $PROGS; do
		usage_error "$p" "unknown option '--thred'" --thred
		usage_error "$p" "unknown option '--thred'" --thred=run-1
		usage_error "$p" "unknown option '-Z'" -Z
	done
	# A known flag before the bad one changes nothing.
	usage_error bcast-tail "unknown option '-Z'" -qZ
	usage_error bcast-flush "unknown option '--json'" --all --json
}

@test "cli: an option without its value, or a flag given one, is named" {
	for p in bcast-emit bcast-event bcast-tail bcast-flush; do
		usage_error "$p" "option '-t' needs a value" -t
		usage_error "$p" "option '--thread' needs a value" --thread
	done
	usage_error bcast-tail "option '-t' needs a value" -qt
	usage_error bcast-emit "option '--db' needs a value" -t r1 --db
	usage_error bcast-hub "option '--listen' needs a value" --listen
	for p in $PROGS; do
		usage_error "$p" "option '--version' takes no value" --version=1
	done
	usage_error bcast-hub "option '--max' is ambiguous" --max 5
}

@test "cli: numeric options say the range they expect and what they got" {
	usage_error bcast-hub "--keepalive: expected an integer 0..86400, got 'soon'" --keepalive soon
	usage_error bcast-hub "--max-clients: expected an integer 1..10000000, got '0'" --max-clients 0
	usage_error bcast-hub "--timeout: expected an integer 1..86400, got '1.5'" --timeout 1.5
	usage_error bcast-hub "--backlog: expected a size 1..1099511627776 bytes (K, M, G suffixes allowed), got '2X'" --backlog 2X
	usage_error bcast-hub "--max-body: expected a size 1..1073741824 bytes (K, M, G suffixes allowed), got '2G'" --max-body 2G
	usage_error bcast-hub "--max-body: expected a size 1..1073741824 bytes (K, M, G suffixes allowed), got '-1K'" --max-body -1K
	usage_error bcast-flush "--batch: expected an integer 1..100000, got 'abc'" --all --batch abc
	usage_error bcast-flush "--batch: expected an integer 1..100000, got ' 5'" --all --batch ' 5'
	usage_error bcast-tail "--count: expected an integer 1..9223372036854775807, got '0'" --count 0
	usage_error bcast-tail "--count: expected an integer 1..9223372036854775807, got '99999999999999999999'" --count 99999999999999999999
	usage_error bcast-emit "--max-line: expected an integer 4..16777216, got '3'" -t r1 --max-line 3
	usage_error bcast-emit "--max-line: expected an integer 4..16777216, got '4k'" -t r1 --max-line 4k
}
