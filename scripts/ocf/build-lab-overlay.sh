#!/bin/bash
# build-lab-overlay.sh DEB: a lab initramfs for the OCF agent and package scenarios, in $LAB/ha.
#
# The kernel unpacks concatenated cpio archives in order, later files replacing earlier ones, so
# $LAB/ha/initramfs.cpio.gz is the lab's own initramfs followed by an overlay with:
#   /lab/mdcluster.deb          the package under test (the guest unpacks and checks it)
#   /usr/sbin/ocf-tester        Debian's resource-agents ocf-tester, and its ra-api-1.dtd
#   /usr/bin/xmllint            with its shared libraries (ocf-tester lints the meta-data with it)
#   /etc/passwd, /etc/group     root and nobody (ocf-tester runs meta-data as nobody)
#   Pacemaker and corosync      when setup-host.sh downloaded them to $LAB/debs/ha: their daemons and
#                               tools, /usr/share/pacemaker, the shared-library closure in
#                               /usr/lib/pcmk, and the hacluster user and haclient group
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
if ls "$LAB"/debs/ha/*.deb >/dev/null 2>&1; then
  P=$H/pcmk.d
  rm -rf "$P"; mkdir -p "$P"
  for d in "$LAB"/debs/ha/*.deb; do dpkg-deb -x "$d" "$P"; done
  PROGS="usr/sbin/corosync usr/sbin/corosync-cfgtool usr/sbin/corosync-quorumtool usr/sbin/corosync-cmapctl
    usr/sbin/pacemakerd usr/sbin/crm_mon usr/sbin/crm_resource usr/sbin/cibadmin usr/sbin/crm_attribute
    usr/sbin/crm_node usr/sbin/crm_verify usr/sbin/crmadmin $(cd "$P" && ls usr/lib/pacemaker/*)"
  for b in $PROGS; do mkdir -p "$R/$(dirname "$b")"; cp "$P/$b" "$R/$b"; done
  mkdir -p "$R/usr/share"; cp -r "$P/usr/share/pacemaker" "$R/usr/share/"
  # The closure of their shared libraries (from the unpacked packages first, else from this host)
  # goes to /usr/lib/pcmk, which only the cluster daemons search (LD_LIBRARY_PATH): corosync's real
  # libcmap there must not replace the libcmap shim (scripts/cmapshim) that mdadm uses.
  LDP=$P/usr/lib/x86_64-linux-gnu:$P/lib/x86_64-linux-gnu
  mkdir -p "$R/usr/lib/pcmk"
  for b in $PROGS; do LD_LIBRARY_PATH=$LDP ldd "$P/$b"; done | awk '/=>/ && $3 ~ /^\//{print $3}' | sort -u | while read -r l; do
    cp -L "$l" "$R/usr/lib/pcmk/"
  done
  if LD_LIBRARY_PATH=$LDP ldd "$P/usr/sbin/pacemakerd" | grep -q 'not found'; then
    echo "build-lab-overlay: pacemakerd has unresolved libraries" >&2; exit 1
  fi
  printf 'hacluster:x:189:189:cluster user:/var/lib/pacemaker:/bin/sh\n' >> "$R/etc/passwd"
  printf 'haclient:x:189:\n' >> "$R/etc/group"
  rm -rf "$P"
fi
mkdir -p "$H"
ln -sfn ../kroot "$H/kroot"
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$H/overlay.cpio.gz"
cat "$LAB/initramfs.cpio.gz" "$H/overlay.cpio.gz" > "$H/initramfs.cpio.gz.tmp"
mv "$H/initramfs.cpio.gz.tmp" "$H/initramfs.cpio.gz"
echo "build-lab-overlay: $H/initramfs.cpio.gz ($(du -h "$H/initramfs.cpio.gz" | cut -f1))"
