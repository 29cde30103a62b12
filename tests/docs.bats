#!/usr/bin/env bats
# docs.bats - the documentation cannot drift from the programs: every option
# that --help prints is in the program's man page and is offered by the
# shell completion; man pages are lint-clean and render.

load helpers

PROGS="bcast-emit bcast-event bcast-hub bcast-tail bcast-flush"

# long_opts PROG: the long options --help lists.
long_opts() { "$1" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }

@test "every program answers --help on stdout with exit 0 and --version" {
	for p in $PROGS; do
		run "$p" --help
		[ "$status" -eq 0 ]
		[[ "$output" == *"Usage: $p"* ]] || { echo "$p --help lacks Usage"; false; }
		run "$p" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$p $(cat "$REPO/VERSION")" ]
		run "$p" --no-such-flag
		[ "$status" -eq 64 ]
		[[ "$output" == *"Try '$p --help'"* ]]
	done
}

@test "every option in --help is in the man page" {
	for p in $PROGS; do
		for o in $(long_opts "$p"); do
			grep -qE -- "Fl -${o#--}( |$)" "$REPO/man/$p.1" ||
				{ echo "$p: $o missing from man/$p.1"; false; }
		done
	done
}

@test "man pages are mandoc -Tlint clean and render with man -l" {
	for f in "$REPO"/man/*.1 "$REPO"/man/*.7; do
		run mandoc -Tlint -W warning "$f"
		[ -z "$output" ] || { echo "$f: $output"; false; }
		for s in NAME DESCRIPTION ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.Sh $s" "$f" || { echo "$f lacks $s"; false; }
		done
		case $f in *.1) grep -q '^\.Sh SYNOPSIS' "$f" || { echo "$f lacks SYNOPSIS"; false; } ;; esac
	done
	run man -l "$REPO/man/bcast-emit.1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"bcast-emit"* ]]
}

@test "bash completion offers every long option of --help" {
	source "$REPO/completions/bcast.bash"
	for p in $PROGS; do
		COMP_WORDS=("$p" "--")
		COMP_CWORD=1
		COMPREPLY=()
		_bcast
		for o in $(long_opts "$p"); do
			[[ " ${COMPREPLY[*]} " == *" $o "* ]] || { echo "$p: completion lacks $o"; false; }
		done
	done
}

@test "fish completion offers every long option of --help" {
	# make test installs fish (TEST_DEBS)
	command -v fish >/dev/null || { echo "fish missing: install package fish"; false; }
	for p in $PROGS; do
		run fish --no-config -c "source '$REPO/completions/bcast.fish'; complete -C '$p --'"
		[ "$status" -eq 0 ]
		for o in $(long_opts "$p"); do
			[[ $'\n'"$output"$'\n' == *$'\n'"$o"[$'\t\n']* ]] || { echo "$p: fish completion lacks $o"; false; }
		done
	done
}

@test "README shows the two commands first and links every man page" {
	run grep -n -m2 -E '^make (demo|test)' "$REPO/README.md"
	[[ "${lines[0]}" == *"make demo"* ]]
	[[ "${lines[1]}" == *"make test"* ]]
	for p in $PROGS; do grep -q "man/$p.1" "$REPO/README.md"; done
}
