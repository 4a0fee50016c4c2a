#!/bin/bash
# Take golden mdadm outputs from the lab's captured images (scripts/vm/capture-images) on this
# host: each image is attached read-only to a loop device, because mdadm 4.2 reads a regular
# image file given to --examine-bitmap as an external bitmap file, not as a member.
# For every <set>/<disk>.img.gz it writes <set>/<disk>.<mode>.golden holding mdadm's output with
# the loop device's name replaced by DEVICE, and its exit code on the last line ("rc=N").
#   scripts/vm/make-goldens.sh [bitmap/testdata/images]
set -euo pipefail
DIR=${1:-bitmap/testdata/images}
command -v mdadm >/dev/null || { echo "make-goldens: mdadm is not installed" >&2; exit 1; }
mdadm --version 2>&1 | grep -q 'v4.2 ' || { echo "make-goldens: want mdadm 4.2, have $(mdadm --version 2>&1)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for gz in "$DIR"/*/*.img.gz; do
  base=${gz%.img.gz}
  gunzip -c "$gz" > "$tmp/img"
  loop=$(losetup -r -f --show "$tmp/img")
  for mode in examine examine-bitmap query; do
    set +e
    out=$(TZ=UTC mdadm --$mode "$loop" 2>&1); rc=$?
    set -e
    printf '%s\nrc=%d\n' "${out//$loop/DEVICE}" "$rc" > "$base.$mode.golden"
  done
  losetup -d "$loop"
  echo "make-goldens: $base"
done
