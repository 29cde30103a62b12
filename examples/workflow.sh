#!/bin/sh
# workflow.sh - a stand-in for a real workflow run: a few steps that print
# progress on stdout (and one warning on stderr), with small pauses so the
# lines can be watched arriving live.
set -e
steps=${STEPS:-8}
echo "workflow: starting $steps steps"
i=1
while [ "$i" -le "$steps" ]; do
	echo "step $i/$steps: fetching batch $i"
	sleep 0.3
	echo "step $i/$steps: processed $((i * 125)) records"
	[ "$i" -eq 4 ] && echo "warning: step 4 retried once" >&2
	i=$((i + 1))
done
echo "workflow: done, \"$((steps * 125))\" records in total"
