#!/bin/sh
# Install a configuration file only if the target does not exist yet, so that
# "meson install" on an upgraded appliance never overwrites an operator's
# edits; the fresh example then lands next to it as FILE.new.
# Usage (from meson.add_install_script): install-if-absent.sh SRC DIR NAME
# Honours DESTDIR like the rest of "meson install".
set -eu
src=$1
dir=${DESTDIR:-}$2
name=$3

mkdir -p "$dir"
if [ -e "$dir/$name" ]; then
	install -m 0644 "$src" "$dir/$name.new"
	echo "install-if-absent: kept $dir/$name; new example in $dir/$name.new"
else
	install -m 0644 "$src" "$dir/$name"
	echo "install-if-absent: installed $dir/$name"
fi
