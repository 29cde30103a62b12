# bash completion for the bcast programs (bcast-emit, bcast-event, bcast-hub,
# bcast-tail, bcast-flush). Options are read from each program's --help, so
# the completion can never drift from the program.
_bcast() {
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD-1]}
	}
	case $prev in
	--spool) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--fsync) COMPREPLY=($(compgen -W "none batch" -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		local opts
		opts=$("${COMP_WORDS[0]}" --help 2>/dev/null | grep -oE -- '(^|[ ,\[])--?[A-Za-z][A-Za-z0-9-]*' |
			sed -E 's/^[ ,\[]//' | sort -u)
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	fi
}
complete -F _bcast bcast-emit bcast-event bcast-hub bcast-tail bcast-flush
