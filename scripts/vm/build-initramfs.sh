#!/bin/bash
# Build $LAB/initramfs.cpio.gz for the lab guests: busybox, the kernel module closure, mdadm with
# its libraries (+ libdlm_lt from libdlm3, + mdcluster's libcmap shim), and the project's static binaries
# from bin/. Run scripts/vm/setup-host.sh first and `make build` (or let `make lab` do both).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
LAB=${MDCLUSTER_LAB:-$TOP/.lab}
BIN=${BIN:-$TOP/bin}
[ -f "$LAB/kroot/.ready" ] || { echo "build-initramfs: no kernel in $LAB/kroot: run scripts/vm/setup-host.sh" >&2; exit 1; }
KV=$(ls "$LAB/kroot/lib/modules" | head -1)
for b in mdlab mdclusterd mdcadm dlmprobe; do
  [ -x "$BIN/$b" ] || { echo "build-initramfs: $BIN/$b missing: run make build" >&2; exit 1; }
done
R=$LAB/initramfs.d
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,etc/mdadm,proc,sys,dev,tmp,run,root,lib/x86_64-linux-gnu,lib64,usr/bin,usr/sbin,lab}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"

# Module closure in load order. Debian 6.1 ships uncompressed modules, so busybox insmod works.
# ext4 (with jbd2, mbcache, crc16 and its crc32c soft dependency) mounts the Debian root in which
# TestPackageInstall runs dpkg.
MODS="virtio_pci virtio_blk virtio_net virtio_console configfs raid0 raid1 raid10 raid456 md-cluster dlm softdog ext4"
: > "$R/lab/modules.order"
for m in $MODS; do
  modprobe -d "$LAB/kroot" -S "$KV" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r p; do
  rel=${p#"$LAB"/kroot/}
  mkdir -p "$R/$(dirname "$rel")"; cp "$p" "$R/$rel"; echo "/$rel" >> "$R/lab/modules.order"
done
cp "$LAB/kroot/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KV/" 2>/dev/null || true
depmod -b "$R" "$KV"

# mdadm (the host's, from Debian's mdadm package) and the shared libraries it links.
cp /sbin/mdadm "$R/sbin/mdadm"
for l in $(ldd /sbin/mdadm | awk '/=>/ && $3 ~ /^\//{print $3} /ld-linux/{print $1}'); do
  mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"
done
# mdadm dlopen()s libdlm_lt.so.3 for clustered bitmaps (from the unpacked libdlm3).
cp -L "$LAB/dlmroot/usr/lib/x86_64-linux-gnu/libdlm_lt.so.3" "$R/lib/x86_64-linux-gnu/"
# mdadm asks corosync's cmap for the cluster name: mdcluster's libcmap shim answers it from the
# agent's configuration (scripts/cmapshim). It lives in a private directory that mdcadm puts on
# mdadm's LD_LIBRARY_PATH; the lab has no corosync (without WITH_COROSYNC), so the link on the
# default path serves guest tests that run mdadm directly, and /etc/mdcluster has the lab's name.
mkdir -p "$R/usr/lib/mdcluster/cmapshim" "$R/etc/mdcluster"
gcc -shared -fPIC -O2 -Wall -o "$R/usr/lib/mdcluster/cmapshim/libcmap.so.4" "$TOP/scripts/cmapshim/cmapshim.c"
ln -s /usr/lib/mdcluster/cmapshim/libcmap.so.4 "$R/lib/x86_64-linux-gnu/libcmap.so.4"
printf 'cluster: {name: mdlab}\n' > "$R/etc/mdcluster/mdclusterd.yaml"
printf 'DEVICE /dev/vd*\nHOMECLUSTER mdlab\n' > "$R/etc/mdadm/mdadm.conf"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"; printf 'root:x:0:\n' > "$R/etc/group"

# Debian's corosync and dlm_controld (scenario: the same crash with them as the control plane).
# Their libraries, the real libcmap among them, stay in /usr/lib/corosync: run them with
# LD_LIBRARY_PATH=/usr/lib/corosync, so that nothing else sees them.
if [ -f "$LAB/csroot/.ready" ]; then
  CSL=$LAB/csroot/usr/lib/x86_64-linux-gnu
  mkdir -p "$R/usr/lib/corosync" "$R/etc/corosync" "$R/var/lib/corosync" "$R/run/dlm"
  cp -L "$LAB/dlmroot/usr/lib/x86_64-linux-gnu/libdlm.so.3" "$R/usr/lib/corosync/" 2>/dev/null || true
  for b in corosync corosync-quorumtool dlm_controld dlm_tool; do
    cp "$LAB/csroot/usr/sbin/$b" "$R/usr/sbin/$b"
    LD_LIBRARY_PATH=$CSL:$LAB/dlmroot/usr/lib/x86_64-linux-gnu ldd "$LAB/csroot/usr/sbin/$b" | awk '/=>/ && $3 ~ /^\//{print $3}' |
    while read -r l; do
      case $l in "$LAB"/*) cp -L "$l" "$R/usr/lib/corosync/" ;; *) mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l" ;; esac
    done
  done
  printf 'root:x:0:\nhaclient:x:90:\n' > "$R/etc/group"
fi

for b in mdlab mdclusterd mdcadm dlmprobe; do cp "$BIN/$b" "$R/bin/$b"; done
# Test binaries of packages with `vmguest` tests (make guest-tests), run in the guest by the VM suite.
mkdir -p "$R/lab/tests"
cp "$LAB"/guest-tests/*.test "$R/lab/tests/" 2>/dev/null || true
cp "$HERE"/guest/*.sh "$R/lab/" 2>/dev/null || true
chmod +x "$R"/lab/*.sh 2>/dev/null || true
cp "$HERE/guest/init" "$R/init"; chmod +x "$R/init"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$LAB/initramfs.cpio.gz.tmp"
mv "$LAB/initramfs.cpio.gz.tmp" "$LAB/initramfs.cpio.gz"
echo "build-initramfs: $LAB/initramfs.cpio.gz ($(du -h "$LAB/initramfs.cpio.gz" | cut -f1), kernel $KV)"
