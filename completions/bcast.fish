# fish completion for the bcast programs (installed as PROG.fish for each of
# bcast-emit, bcast-event, bcast-hub, bcast-tail, bcast-flush). Options are
# read from each program's --help, so the completion cannot drift from the
# program. Values as in the bash completion: thread ids from the hub's run
# list after -t/--thread (and bcast-tail's THREAD), event types after --type
# and as bcast-event's TYPE, a command and its own completion after
# bcast-emit's --, URL schemes after --db/--redis/--hub.

set -g __bcast_types run_started run_completed run_error run_cancelled run_paused checkpoint hitl.ack

# __bcast_setting NAME FLAG: FLAG's value on the line > $NAME > the file.
function __bcast_setting -a name flag
    set -l toks (commandline -opc)
    for i in (seq 2 (math (count $toks) - 1))
        test "$toks[$i]" = --; and break
        if test -n "$flag"; and test "$toks[$i]" = "$flag"
            echo $toks[(math $i + 1)]
            return
        end
    end
    if set -q $name; and test -n "$$name"
        echo $$name
        return
    end
    set -l conf /etc/bcast/bcast.conf
    set -q BCAST_CONFIG; and set conf $BCAST_CONFIG
    test -r $conf; and string replace -r -f "^$name=" '' <$conf | tail -n 1
end

function __bcast_threads
    command -q curl; or return 0
    set -l hub (__bcast_setting BCAST_HUB --hub)
    test -n "$hub"; or set hub http://127.0.0.1:8090
    set hub (string replace -r '/$' '' -- $hub)
    set -l tok (__bcast_setting BCAST_READ_TOKEN '')
    test -n "$tok"; or set tok (__bcast_setting BCAST_TOKEN --token)
    # The token goes to curl on a pipe, never on its command line.
    if test -n "$tok"
        printf 'Authorization: Bearer %s\n' $tok | curl -sf --max-time 2 -H @- $hub/admin/runs 2>/dev/null
    else
        curl -sf --max-time 2 $hub/admin/runs 2>/dev/null
    end | string match -r -a -g '"thread_id" *: *"([A-Za-z0-9_.:-]+)"'
end

function __bcast_opts
    set -l cmd (commandline -opc)[1]
    $cmd --help 2>/dev/null | string match -r -a -g -- '(?:^|[ ,\[])(--?[A-Za-z][A-Za-z0-9-]*)' | sort -u
end

function __bcast_prev_is
    set -l toks (commandline -opc)
    not contains -- -- $toks; and contains -- $toks[-1] $argv
end

function __bcast_after_dashdash
    contains -- -- (commandline -opc)
end

function __bcast_option_word
    not __bcast_after_dashdash; and string match -q -- '-*' (commandline -ct)
end

# The nth positional argument is being completed (options and their values
# skipped).
function __bcast_positional -a n
    __bcast_after_dashdash; and return 1
    string match -q -- '-*' (commandline -ct); and return 1
    set -l toks (commandline -opc)
    set -l valued ($toks[1] --help 2>/dev/null | string match -r -a -g -- '(?:^|[ ,\[])(--?[A-Za-z][A-Za-z0-9-]*) [A-Z]')
    set -l count 0
    set -l skip 0
    for t in $toks[2..-1]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $t
            if contains -- $t $valued -t
                set skip 1
            end
        else
            set count (math $count + 1)
        end
    end
    test $count = $n; and test $skip = 0
end

function __bcast_type_list
    set -l cur (commandline -ct)
    if string match -q -- '*,*' $cur
        set -l pre (string replace -r ',[^,]*$' ',' -- $cur)
        printf '%s\n' $pre$__bcast_types
    else
        printf '%s\n' $__bcast_types
    end
end

function __bcast_db
    set -l cur (commandline -ct)
    if string match -q -- 'sqlite:*' $cur
        printf 'sqlite:%s\n' (__fish_complete_path (string replace sqlite: '' -- $cur))
    else
        printf '%s\n' sqlite: postgresql:// postgres://
    end
end

function __bcast_command
    set -l toks (commandline -opc)
    set -l i (contains -i -- -- $toks)
    complete -C (string join ' ' -- $toks[(math $i + 1)..-1] (commandline -ct))
end

for p in bcast-emit bcast-event bcast-hub bcast-tail bcast-flush
    complete -c $p -f
    complete -c $p -n __bcast_option_word -a '(__bcast_opts)'
    complete -c $p -n '__bcast_prev_is -t --thread' -a '(__bcast_threads)'
    complete -c $p -n '__bcast_prev_is --type' -a '(__bcast_type_list)'
    complete -c $p -n '__bcast_prev_is --db' -a '(__bcast_db)'
    complete -c $p -n '__bcast_prev_is --redis' -a 'redis:// none'
    complete -c $p -n '__bcast_prev_is --hub' -a 'http:// https://'
    complete -c $p -n '__bcast_prev_is --spool' -a '(__fish_complete_directories)'
    complete -c $p -n '__bcast_prev_is --fsync' -a 'none batch'
    complete -c $p -n '__bcast_prev_is --config --token-file --read-token-file --jwt-secret-file' -F
end
complete -c bcast-flush -n '__bcast_prev_is --prune-older-than' -a '7d 30d 90d 365d'
complete -c bcast-emit -n __bcast_after_dashdash -a '(__bcast_command)'
complete -c bcast-event -n '__bcast_positional 0' -a '$__bcast_types'
complete -c bcast-tail -n '__bcast_positional 0' -a '(__bcast_threads)'
complete -c bcast-tail -n '__bcast_prev_is --color' -a 'auto always never'
complete -c bcast-tail -n '__bcast_prev_is --status' -a 'running completed error cancelled paused'
complete -c bcast-tail -n '__bcast_prev_is -n --lines' -a '10 100 all'
complete -c bcast-tail -n '__bcast_prev_is --since' -a '10m 1h 1d'
