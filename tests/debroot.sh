#!/bin/sh
# tests/debroot.sh CACHE - print the path of a minimal Debian bookworm root
# made by debootstrap (--variant=minbase, plus systemd as on any real
# machine: the units are verified inside the root), cached under CACHE so that only
# the first run on a machine pays for it (a few minutes). The mirror is the
# one apt on this machine uses for bookworm (/etc/apt/sources.list or
# /etc/apt/sources.list.d/*.sources), else deb.debian.org. Callers copy the
# cached root before changing it: CACHE/bookworm stays pristine.
set -eu
cache=${1:?usage: tests/debroot.sh CACHE}
root=$cache/bookworm-minbase-systemd
if [ -f "$root/.complete" ]; then echo "$root"; exit 0; fi

mirror() {
	# One-line format: "deb [opts] URI bookworm main".
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -nE 's/^deb +(\[[^]]*\] +)?([a-z]+:[^ ]+) +bookworm( .*)?$/\2/p' "$f"
	done
	# deb822 format: URIs: line of a stanza whose Suites: holds bookworm.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
		     /^$/ { if (s && u) print u; u = ""; s = 0 } END { if (s && u) print u }' "$f"
	done
	echo http://deb.debian.org/debian
}
m=$(mirror | head -1)
mkdir -p "$cache"
rm -rf "$root.tmp"
echo "debroot: debootstrap --variant=minbase --include=systemd bookworm from $m (once per machine)" >&2
debootstrap --variant=minbase --include=systemd bookworm "$root.tmp" "$m" >"$cache/debootstrap.log" 2>&1 ||
	{ tail -20 "$cache/debootstrap.log" >&2; exit 1; }
# apt inside the root uses the same mirror.
echo "deb $m bookworm main" >"$root.tmp/etc/apt/sources.list"
touch "$root.tmp/.complete"
rm -rf "$root"
mv "$root.tmp" "$root"
echo "$root"
