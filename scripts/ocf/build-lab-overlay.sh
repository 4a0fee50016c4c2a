#!/bin/bash
# build-lab-overlay.sh DEB: a lab initramfs for the OCF agent and package scenarios, in $LAB/ha.
#
# The kernel unpacks concatenated cpio archives in order, later files replacing earlier ones, so
# $LAB/ha/initramfs.cpio.gz is the lab's own initramfs followed by an overlay with:
#   /lab/mdcluster.deb          the package under test (the guest unpacks and checks it)
#   /usr/sbin/ocf-tester        Debian's resource-agents ocf-tester, and its ra-api-1.dtd
#   /usr/bin/xmllint            with its shared libraries (ocf-tester lints the meta-data with it)
#   /etc/passwd, /etc/group     root and nobody (ocf-tester runs meta-data as nobody)
# $LAB/ha/kroot links to the lab's kernel, so MDCLUSTER_LAB=$LAB/ha boots this initramfs.
set -euo pipefail
[ $# = 1 ] || { echo "usage: build-lab-overlay.sh DEB" >&2; exit 2; }
DEB=$1
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
LAB=${MDCLUSTER_LAB:-$TOP/.lab}
[ -f "$LAB/initramfs.cpio.gz" ] || { echo "build-lab-overlay: no $LAB/initramfs.cpio.gz: run make lab" >&2; exit 1; }
[ -f "$DEB" ] || { echo "build-lab-overlay: no package $DEB: run make deb" >&2; exit 1; }
for f in /usr/sbin/ocf-tester /usr/share/resource-agents/ra-api-1.dtd /usr/bin/xmllint; do
  [ -e "$f" ] || { echo "build-lab-overlay: $f missing: install resource-agents and libxml2-utils (scripts/vm/setup-host.sh)" >&2; exit 1; }
done
H=$LAB/ha
R=$H/overlay.d
rm -rf "$R"
mkdir -p "$R"/{lab,etc,usr/sbin,usr/bin,usr/share/resource-agents}
cp "$DEB" "$R/lab/mdcluster.deb"
cp /usr/sbin/ocf-tester "$R/usr/sbin/"
cp /usr/share/resource-agents/ra-api-1.dtd "$R/usr/share/resource-agents/"
cp /usr/bin/xmllint "$R/usr/bin/"
for l in $(ldd /usr/bin/xmllint | awk '/=>/ && $3 ~ /^\//{print $3}'); do
  mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
mkdir -p "$H"
ln -sfn ../kroot "$H/kroot"
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$H/overlay.cpio.gz"
cat "$LAB/initramfs.cpio.gz" "$H/overlay.cpio.gz" > "$H/initramfs.cpio.gz.tmp"
mv "$H/initramfs.cpio.gz.tmp" "$H/initramfs.cpio.gz"
echo "build-lab-overlay: $H/initramfs.cpio.gz ($(du -h "$H/initramfs.cpio.gz" | cut -f1))"
