# bash completion for the bcast programs (bcast-emit, bcast-event, bcast-hub,
# bcast-tail, bcast-flush). Options, and which of them take a value, are read
# from each program's --help, so the completion can never drift from the
# program. Values:
#   -t/--thread (and bcast-tail's THREAD)  thread ids from the hub's run list,
#       GET /admin/runs, with BCAST_READ_TOKEN (else BCAST_TOKEN) as bearer,
#       2 s at most; nothing when the hub does not answer
#   --type LIST, bcast-event's TYPE         the known event types
#   bcast-tail --status, --color, -n, --since  their words (statuses, auto...)
#   bcast-emit -- CMD ARG...                 a command, then its own completion
#   --db, --redis, --hub                     URL schemes (sqlite: then a file)
#   --spool DIR, --config F, --*-file F      directories, files
# The hub address and token come, like the programs', from the command line,
# then the environment, then the configuration file ($BCAST_CONFIG or
# /etc/bcast/bcast.conf, when readable).

_bcast_statuses="running completed error cancelled paused"
_bcast_types="run_started run_completed run_error run_cancelled run_paused checkpoint hitl.ack"

# _bcast_setting NAME FLAG: the value of setting NAME (BCAST_HUB, ...) for the
# command line being completed (words, cword of _bcast): FLAG on the line >
# environment > file.
_bcast_setting() {
	local name=$1 flag=$2 i w conf
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		[ "$w" = -- ] && break
		if [ -n "$flag" ] && [ "$w" = "$flag" ]; then
			printf '%s\n' "${words[i + 1]}"
			return
		elif [ -n "$flag" ] && [[ $w == "$flag="* ]]; then
			printf '%s\n' "${w#*=}"
			return
		fi
	done
	if [ -n "${!name:-}" ]; then
		printf '%s\n' "${!name}"
		return
	fi
	conf=${BCAST_CONFIG:-/etc/bcast/bcast.conf}
	[ -r "$conf" ] && sed -n "s/^$name=//p" "$conf" | tail -n 1
}

# _bcast_threads: thread ids the hub knows, newest first; nothing on failure.
_bcast_threads() {
	command -v curl >/dev/null 2>&1 || return 0
	local hub tok
	hub=$(_bcast_setting BCAST_HUB --hub)
	hub=${hub:-http://127.0.0.1:8090}
	tok=$(_bcast_setting BCAST_READ_TOKEN "")
	[ -n "$tok" ] || tok=$(_bcast_setting BCAST_TOKEN --token)
	# The token goes to curl on a pipe, never on its command line.
	if [ -n "$tok" ]; then
		printf 'Authorization: Bearer %s\n' "$tok" |
			curl -sf --max-time 2 -H @- "${hub%/}/admin/runs" 2>/dev/null
	else
		curl -sf --max-time 2 "${hub%/}/admin/runs" 2>/dev/null
	fi | grep -oE '"thread_id" *: *"[A-Za-z0-9_.:-]+"' | sed -E 's/.*"([^"]+)"$/\1/'
}

# _bcast_valued PROG: the options of PROG that take a value ("--hub URL").
_bcast_valued() {
	"$1" --help 2>/dev/null | grep -oE -- '(^|[ ,\[])--?[A-Za-z][A-Za-z0-9-]* [A-Z][A-Z_,.]*' |
		sed -E 's/^[ ,\[]//; s/ .*//' | sort -u
}

# The completion function. With bash-completion (Debian's package), words
# are taken whole across ':' (URLs) and --opt=value is split; without it,
# bash's own words are used.
_bcast() {
	local cur prev words cword split i
	COMPREPLY=()
	# bcast-emit -- CMD ARG...: the command, then whatever completes for it.
	for ((i = 1; i < COMP_CWORD; i++)); do
		[ "${COMP_WORDS[i]}" = -- ] || continue
		cur=${COMP_WORDS[COMP_CWORD]}
		if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
			COMPREPLY=($(compgen -c -- "$cur"))
		elif declare -F _command_offset >/dev/null; then
			_command_offset $((i + 1))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return 0
	done
	if declare -F _init_completion >/dev/null; then
		_init_completion -s -n : || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi
	_bcast_values
	declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
	return 0
}

# _bcast_list WORDS: complete the last item of cur, a comma-separated list
# of WORDS (no space after it: another item may follow).
_bcast_list() {
	if [[ $cur == *,* ]]; then
		COMPREPLY=($(compgen -P "${cur%,*}," -W "$1" -- "${cur##*,}"))
	else
		COMPREPLY=($(compgen -W "$1" -- "$cur"))
	fi
	compopt -o nospace 2>/dev/null || :
}

# _bcast_values: fill COMPREPLY for cur, prev, words, cword of _bcast.
_bcast_values() {
	local i w

	case $prev in
	-t | --thread)
		COMPREPLY=($(compgen -W "$(_bcast_threads)" -- "$cur"))
		return 0 ;;
	--type)
		_bcast_list "$_bcast_types"
		return 0 ;;
	--db)
		if [[ $cur == sqlite:* ]]; then
			COMPREPLY=($(compgen -P sqlite: -f -- "${cur#sqlite:}"))
		else
			COMPREPLY=($(compgen -W "sqlite: postgresql:// postgres://" -- "$cur"))
		fi
		compopt -o nospace 2>/dev/null || :
		return 0 ;;
	--redis)
		COMPREPLY=($(compgen -W "redis:// none" -- "$cur"))
		[[ ${COMPREPLY[0]} == none ]] || compopt -o nospace 2>/dev/null || :
		return 0 ;;
	--hub)
		COMPREPLY=($(compgen -W "http:// https://" -- "$cur"))
		compopt -o nospace 2>/dev/null || :
		return 0 ;;
	--spool)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0 ;;
	--config | --*-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	--fsync)
		COMPREPLY=($(compgen -W "none batch" -- "$cur"))
		return 0 ;;
	--prune-older-than)
		COMPREPLY=($(compgen -W "7d 30d 90d 365d" -- "$cur"))
		return 0 ;;
	--color)
		COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
		return 0 ;;
	--status)
		_bcast_list "$_bcast_statuses"
		return 0 ;;
	-n | --lines)
		COMPREPLY=($(compgen -W "10 100 all" -- "$cur"))
		return 0 ;;
	--since)
		COMPREPLY=($(compgen -W "10m 1h 1d" -- "$cur"))
		return 0 ;;
	esac

	if [[ $cur == -* ]]; then
		local opts
		opts=$("${words[0]}" --help 2>/dev/null | grep -oE -- '(^|[ ,\[])--?[A-Za-z][A-Za-z0-9-]*' |
			sed -E 's/^[ ,\[]//' | sort -u)
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null || :
		return 0
	fi

	# A positional argument: which one is it? Skip options and their values.
	local valued n=0
	valued=" $(_bcast_valued "${words[0]}" | tr '\n' ' ') "
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == -* ]]; then
			[[ $valued == *" $w "* || $w == -t ]] && i=$((i + 1))
		elif [ "$w" != = ]; then
			n=$((n + 1))
		fi
	done
	case ${words[0]##*/}:$n in
	bcast-event:0) COMPREPLY=($(compgen -W "$_bcast_types" -- "$cur")) ;;
	bcast-tail:0) COMPREPLY=($(compgen -W "$(_bcast_threads)" -- "$cur")) ;;
	esac
}
complete -F _bcast bcast-emit bcast-event bcast-hub bcast-tail bcast-flush
