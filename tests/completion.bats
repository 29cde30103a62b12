#!/usr/bin/env bats
# completion.bats - the bash completion completes values, not only option
# names: thread ids from the hub's run list after -t, event types after
# --type and as bcast-event's TYPE, a command and then its arguments after
# bcast-emit's --, URL schemes (and a SQLite file) after --db, --redis and
# --hub. Each case goes through the completion function the way bash calls
# it, with Debian's bash-completion loaded as on a user's machine.

load helpers

setup_file() { :; }
teardown_file() { :; }

setup() {
	bc_setup
	# make test installs bash-completion (TEST_DEBS)
	[ -f /usr/share/bash-completion/bash_completion ] ||
		{ echo "bash-completion missing: install package bash-completion"; false; }
	source /usr/share/bash-completion/bash_completion
	source "$REPO/completions/bcast.bash"
}

# comp LINE: complete LINE with the cursor at its end; sets REPLY_WORDS to
# the candidates, one per line, sorted. Words are split as bash splits
# them: at blanks, and ':' and '=' (COMP_WORDBREAKS) become words of their
# own.
comp() {
	local line=$1 c w="" ws=() k
	for ((k = 0; k < ${#line}; k++)); do
		c=${line:k:1}
		case $c in
		" ") [ -n "$w" ] && ws+=("$w"); w="" ;;
		[:=]) [ -n "$w" ] && ws+=("$w"); ws+=("$c"); w="" ;;
		*) [[ $w == [:=] ]] && { ws+=("$w"); w=""; }; w+=$c ;;
		esac
	done
	ws+=("$w")
	COMP_WORDS=("${ws[@]}")
	COMP_CWORD=$((${#ws[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_bcast || :   # bash-completion is not written for set -e
	REPLY_WORDS=$(printf '%s\n' "${COMPREPLY[@]}" | sort -u)
}

TYPES="checkpoint
hitl.ack
run_cancelled
run_completed
run_error
run_paused
run_started"

@test "completion: --type offers the event types, also after a comma" {
	comp "bcast-tail --admin --type "
	[ "$REPLY_WORDS" = "$TYPES" ]
	comp "bcast-tail --admin --type run_c"
	[ "$REPLY_WORDS" = $'run_cancelled\nrun_completed' ]
	comp "bcast-tail --admin --type run_started,che"
	[ "$REPLY_WORDS" = run_started,checkpoint ]
}

@test "completion: bcast-event's TYPE is an event type, after options and their values" {
	comp "bcast-event -t run-1 "
	[ "$REPLY_WORDS" = "$TYPES" ]
	comp "bcast-event --hub http://127.0.0.1:1 -t run-1 --token x run_e"
	[ "$REPLY_WORDS" = run_error ]
	# The JSON object after TYPE is not a type.
	comp "bcast-event -t run-1 checkpoint "
	[ -z "$REPLY_WORDS" ]
}

@test "completion: after bcast-emit's -- a command, then that command's files" {
	comp "bcast-emit -t run-1 -- bcast-fl"
	[ "$REPLY_WORDS" = bcast-flush ]
	touch "$T/build.log" "$T/build.sh"
	comp "bcast-emit -t run-1 -- cat $T/build."
	[ "$REPLY_WORDS" = "$T/build.log"$'\n'"$T/build.sh" ]
	# Options of bcast-emit are not offered after --.
	comp "bcast-emit -t run-1 -- ls --hu"
	[[ $REPLY_WORDS != *--hub* ]]
}

@test "completion: URL schemes after --db, --redis and --hub; a file after sqlite:" {
	comp "bcast-hub --db "
	[ "$REPLY_WORDS" = $'postgres://\npostgresql://\nsqlite:' ]
	comp "bcast-hub --db po"
	[ "$REPLY_WORDS" = $'postgres://\npostgresql://' ]
	touch "$T/runs.db"
	# bash replaces only what follows the last ':', so that is the candidate.
	comp "bcast-hub --db sqlite:$T/ru"
	[ "$REPLY_WORDS" = "$T/runs.db" ]
	comp "bcast-flush --redis "
	[ "$REPLY_WORDS" = $'none\nredis://' ]
	comp "bcast-tail --hub h"
	[ "$REPLY_WORDS" = $'http://\nhttps://' ]
	comp "bcast-tail --hub=https"
	[ "$REPLY_WORDS" = https:// ]
}

@test "completion: -t with no hub answering offers nothing, quietly and soon" {
	export BCAST_HUB="http://127.0.0.1:$(free_port)"
	local t0=$SECONDS
	run comp "bcast-tail -t "
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	comp "bcast-tail -t "
	[ -z "$REPLY_WORDS" ]
	[ $((SECONDS - t0)) -le 5 ]
}

@test "completion: -t offers the thread ids of the hub's runs (--hub on the line beats BCAST_HUB)" {
	start_hub
	local hub=$BCAST_HUB
	bcast-emit -t build-17 --redis none -- true
	bcast-emit -t build-18 --redis none -- true
	bcast-emit -t deploy-3 --redis none -- true
	comp "bcast-tail -t "
	[ "$REPLY_WORDS" = $'build-17\nbuild-18\ndeploy-3' ]
	comp "bcast-event -t bu"
	[ "$REPLY_WORDS" = $'build-17\nbuild-18' ]
	# bcast-tail's THREAD may also come without -t.
	comp "bcast-tail de"
	[ "$REPLY_WORDS" = deploy-3 ]
	# The hub named on the command line is the one asked.
	export BCAST_HUB="http://127.0.0.1:$(free_port)"
	comp "bcast-emit --hub $hub -t dep"
	[ "$REPLY_WORDS" = deploy-3 ]
	comp "bcast-emit -t dep"
	[ -z "$REPLY_WORDS" ]
}
