#!/bin/sh
# Prints a PATH that holds every program of the current PATH but the ones named, for running
# kiln (and its tests) as on a machine without them: `PATH=$(tools/path-without.sh bwrap) npm ...`.
# The directory of symlinks is made under ${TMPDIR:-/tmp} and reused while the PATH is the same.
set -eu
dir="${TMPDIR:-/tmp}/kiln-path-without-$(printf '%s' "$* $PATH" | sha256sum | cut -c1-16)"
if [ ! -d "$dir" ]; then
  tmp="$dir.$$"
  mkdir -p "$tmp"
  IFS=:
  for d in $PATH; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do
      name=${f##*/}
      skip=no
      for unwanted in "$@"; do [ "$name" = "$unwanted" ] && skip=yes; done
      [ "$skip" = yes ] || [ -e "$tmp/$name" ] || [ ! -x "$f" ] || ln -s "$f" "$tmp/$name"
    done
  done
  mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
fi
echo "$dir"
