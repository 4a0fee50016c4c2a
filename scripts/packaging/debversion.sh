#!/bin/sh
# debversion.sh GIT_DESCRIBE [COMMIT_DATE]: a Debian package version for a
# `git describe --tags --always --dirty` string (COMMIT_DATE: YYYYMMDDHHMMSS, orders untagged builds).
# Debian versions must start with a digit and sort upwards:
#   v1.2.0 -> 1.2.0   v1.2.0-5-gabc1234 -> 1.2.0+git5.abc1234   abc1234 -> 0.0~gitDATE.abc1234
#   a -dirty suffix adds "dirty".
set -eu
[ $# = 1 ] || [ $# = 2 ] || { echo "usage: debversion.sh GIT_DESCRIBE [COMMIT_DATE]" >&2; exit 2; }
v=$1
date=${2:+$2.}
dirty=""
case $v in *-dirty) v=${v%-dirty}; dirty=dirty ;; esac
v=${v#v}
case $v in
[0-9]*-[0-9]*-g[0-9a-f]*)
  # TAG-N-gHASH
  hash=${v##*-g}; rest=${v%-g*}; n=${rest##*-}; tag=${rest%-*}
  out="$tag+git$n.$hash"; [ -n "$dirty" ] && out="$out.dirty" ;;
# A tag is a dotted version; a bare commit hash can start with a digit too (2e9d5c1).
[0-9]*.*) out=$v; [ -n "$dirty" ] && out="$out+dirty" ;;
*) out="0.0~git$date$(printf %s "$v" | tr -c 'A-Za-z0-9.+~\n' '.')"; [ -n "$dirty" ] && out="$out.dirty" ;;
esac
printf '%s\n' "$out"
