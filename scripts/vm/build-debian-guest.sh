#!/bin/bash
# build-debian-guest.sh DEB NEXT_DEB: the Debian guests' boot files, in $LAB/debian:
#   root.ext4       the Debian 12 root that setup-host.sh made with debootstrap (systemd, udev,
#                   mdadm, libdlm3, kmod, iproute2, procps), plus: the kernel's modules for the lab
#                   (virtio, md and its levels, md-cluster, dlm, softdog, ext4, netem), softdog loaded
#                   at boot, systemd-networkd with the lab's addresses (192.168.100.N on the NIC
#                   with MAC 52:54:00:00:00:0N, 10.0.2.15 on the user network's), the lab agent as a
#                   service, the journal forwarded to the serial console, and the package DEB
#                   installed with the root's own dpkg (in a chroot) and mdclusterd.service enabled
#                   by its postinst. /root/debs holds DEB, /root/debs/next NEXT_DEB (a newer
#                   build, for the upgrade scenario).
#   initrd.cpio.gz  a busybox initramfs that loads virtio and ext4, mounts the disk with serial
#                   mdlab-root and hands over to systemd on it.
# Every guest boots a copy of root.ext4 (internal/vmlab). Run setup-host.sh and `make deb` first.
set -euo pipefail
[ $# = 2 ] || { echo "usage: build-debian-guest.sh DEB NEXT_DEB" >&2; exit 2; }
DEB=$(realpath "$1") NEXT=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
LAB=${MDCLUSTER_LAB:-$TOP/.lab}
BIN=${BIN:-$TOP/bin}
[ -f "$LAB/kroot/.ready" ] && [ -f "$LAB/debian-rootfs.tar.gz" ] || { echo "build-debian-guest: run scripts/vm/setup-host.sh" >&2; exit 1; }
[ -x "$BIN/mdlab" ] || { echo "build-debian-guest: $BIN/mdlab missing: run make build" >&2; exit 1; }
KV=$(ls "$LAB/kroot/lib/modules" | head -1)
OUT=$LAB/debian
R=$OUT/root.d
mkdir -p "$OUT"
rm -rf "$R"; mkdir -p "$R"
tar -C "$R" --numeric-owner -xzf "$LAB/debian-rootfs.tar.gz"

# The module closure, in the root with depmod's index (systemd-udevd and modprobe load them).
closure() { for m in "$@"; do modprobe -d "$LAB/kroot" -S "$KV" --show-depends "$m"; done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++'; }
MODS="virtio_pci virtio_blk virtio_net virtio_console virtio_rng configfs raid0 raid1 raid10 raid456 md-cluster dlm softdog ext4 sch_netem"
for p in $(closure $MODS); do
  rel=${p#"$LAB"/kroot/}
  mkdir -p "$R/usr/$(dirname "$rel")"; cp "$p" "$R/usr/$rel"   # /lib is /usr/lib
done
cp "$LAB/kroot/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/usr/lib/modules/$KV/"
depmod -b "$R" "$KV"
echo softdog > "$R/etc/modules-load.d/mdlab.conf"

# Network: the private NIC and the user network by MAC, no DHCP, no route off the subnets.
mkdir -p "$R/etc/systemd/network"
for n in 1 2 3; do
  printf '[Match]\nMACAddress=52:54:00:00:00:0%s\n\n[Network]\nAddress=192.168.100.%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' $n $n \
    > "$R/etc/systemd/network/10-mdlab-private-$n.network"
  printf '[Match]\nMACAddress=52:54:00:00:01:0%s\n\n[Network]\nAddress=10.0.2.15/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' $n \
    > "$R/etc/systemd/network/20-mdlab-user-$n.network"
done
printf 'LABEL=debian-root / ext4 rw,errors=remount-ro 0 0\n' > "$R/etc/fstab"
printf '6d646c6162206775657374206d616368\n' > "$R/etc/machine-id"   # the kernel command line gives each node its own
mkdir -p "$R/etc/systemd/journald.conf.d"
cp "$HERE/debian/journald.conf" "$R/etc/systemd/journald.conf.d/mdlab.conf"
install -m 0755 "$BIN/mdlab" "$R/usr/local/sbin/mdlab"
install -m 0644 "$HERE/debian/mdlab-guest.service" "$R/etc/systemd/system/mdlab-guest.service"

# The package, installed by the root's own dpkg; its postinst enables mdclusterd.service.
mkdir -p "$R/root/debs/next"
cp "$DEB" "$R/root/debs/"; cp "$NEXT" "$R/root/debs/next/"
mount -t proc proc "$R/proc"
trap 'umount "$R/proc" 2>/dev/null || true' EXIT
inroot() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@"; }
inroot dpkg -i "/root/debs/$(basename "$DEB")" >/dev/null
umount "$R/proc"; trap - EXIT
inroot systemctl enable mdlab-guest.service systemd-networkd.service >/dev/null 2>&1
# Nothing reads a console or a display; the archive is out of reach; first-boot questions would wait.
inroot systemctl mask serial-getty@.service getty@.service getty-static.service systemd-firstboot.service \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer >/dev/null 2>&1
inroot systemctl is-enabled mdclusterd.service >/dev/null || { echo "build-debian-guest: the package did not enable mdclusterd.service" >&2; exit 1; }

rm -f "$OUT/root.ext4.tmp"
timeout 600 mke2fs -q -F -t ext4 -L debian-root -d "$R" "$OUT/root.ext4.tmp" 1G >/dev/null
mv "$OUT/root.ext4.tmp" "$OUT/root.ext4"
rm -rf "$R"

# The initramfs: busybox and the modules that mounting the root needs.
I=$OUT/initrd.d
rm -rf "$I"; mkdir -p "$I"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,newroot}
cp /bin/busybox "$I/bin/busybox"; ln -s busybox "$I/bin/sh"
: > "$I/modules.order"
for p in $(closure virtio_pci virtio_blk ext4); do
  rel=${p#"$LAB"/kroot/}; mkdir -p "$I/$(dirname "$rel")"; cp "$p" "$I/$rel"; echo "/$rel" >> "$I/modules.order"
done
cp "$HERE/debian/init" "$I/init"; chmod +x "$I/init"
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.cpio.gz"
rm -rf "$I"
echo "build-debian-guest: $OUT/root.ext4 ($(du -h "$OUT/root.ext4" | cut -f1) used), $OUT/initrd.cpio.gz ($(du -h "$OUT/initrd.cpio.gz" | cut -f1)), packages $(basename "$DEB") $(basename "$NEXT")"
