#!/bin/bash
# Prepare this Debian 12 host for the mdcluster VM lab. Idempotent; safe to re-run.
#
#  - apt-get installs qemu-system-x86, busybox-static, kmod, cpio, mdadm and gcc, and for the
#    OCF agent, package and metrics tests resource-agents (ocf-tester), libxml2-utils (xmllint),
#    groff-base and prometheus (promtool), spin for the protocol models (make model), and
#    debootstrap and e2fsprogs (mke2fs) for the Debian root below (the first install can fail once on these images when the docker-clean hook races
#    an upgrade: retried);
#  - downloads (never installs) the real Debian kernel package behind linux-image-amd64 and
#    libdlm3, unpacks them with dpkg-deb -x under $LAB, and runs depmod on the unpacked tree;
#  - downloads (never installs) pacemaker, corosync and their library packages to $LAB/debs/ha for
#    the Pacemaker scenario (scripts/ocf/build-lab-overlay.sh unpacks them into a lab initramfs);
#  - builds a fresh Debian 12 root file system once with debootstrap (minbase plus what a server
#    running mdcluster has: mdadm, which the package Depends on, libdlm3, systemd as init with
#    udev, kmod, iproute2 and procps; the guests have no network to the archive) from the mirror
#    this host's apt uses, keeps it as $LAB/debian-rootfs.tar.gz, and makes from it the ext4 image
#    $LAB/debian-rootfs.ext4 in which TestPackageInstall runs Debian's dpkg on the package. The
#    Debian guests (scripts/vm/build-debian-guest.sh) boot the same root. A change of the package
#    list ($LAB/debian-rootfs.include records it) makes it again.
#
# Everything lands in $LAB (default: <repo>/.lab, git-ignored). Nothing is installed from the
# downloaded packages onto the host. Every network step is bounded by a timeout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${MDCLUSTER_LAB:-$(cd "$HERE/../.." && pwd)/.lab}
export DEBIAN_FRONTEND=noninteractive
log() { printf '%s setup-host: %s\n' "$(date +%T)" "$*"; }

need_pkgs=()
for p in qemu-system-x86 busybox-static kmod cpio mdadm gcc libc6-dev resource-agents libxml2-utils groff-base prometheus spin debootstrap e2fsprogs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
apt_updated=0
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${need_pkgs[*]}"
  timeout 300 apt-get update -qq; apt_updated=1
  ok=0
  for attempt in 1 2 3; do
    if timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; then ok=1; break; fi
    log "apt-get install failed (attempt $attempt), retrying"; sleep 3
  done
  [ $ok = 1 ] || { echo "setup-host: apt-get install ${need_pkgs[*]} failed 3 times" >&2; exit 1; }
fi

mkdir -p "$LAB/debs"
if [ ! -f "$LAB/kroot/.ready" ]; then
  [ $apt_updated = 1 ] || { timeout 300 apt-get update -qq; apt_updated=1; }
  # The versioned image package (linux-image-6.1.0-NN-amd64) that the meta package depends on.
  KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || { echo "setup-host: cannot resolve linux-image-amd64 to a kernel package" >&2; exit 1; }
  log "download $KPKG"
  (cd "$LAB/debs" && rm -f linux-image-*.deb && timeout 900 apt-get download -qq -o APT::Sandbox::User=root "$KPKG")
  rm -rf "$LAB/kroot"
  dpkg-deb -x "$LAB"/debs/"$KPKG"_*.deb "$LAB/kroot"
  KV=$(ls "$LAB/kroot/lib/modules" | head -1)
  /sbin/depmod -b "$LAB/kroot" "$KV"   # the .deb ships no modules.dep (its postinst runs depmod)
  echo "$KPKG $KV" > "$LAB/kroot/.ready"
fi
if [ ! -f "$LAB/dlmroot/.ready" ]; then
  [ $apt_updated = 1 ] || { timeout 300 apt-get update -qq; apt_updated=1; }
  log "download libdlm3"
  (cd "$LAB/debs" && rm -f libdlm3_*.deb && timeout 900 apt-get download -qq -o APT::Sandbox::User=root libdlm3)
  rm -rf "$LAB/dlmroot"
  dpkg-deb -x "$LAB"/debs/libdlm3_*.deb "$LAB/dlmroot"
  touch "$LAB/dlmroot/.ready"
fi
# Debian's corosync and dlm_controld for the scenario that compares mdclusterd's DLM control
# plane with them (unpacked only; build-initramfs.sh puts them in a private library directory).
if [ ! -f "$LAB/csroot/.ready" ]; then
  [ $apt_updated = 1 ] || { timeout 300 apt-get update -qq; apt_updated=1; }
  log "download corosync and dlm-controld"
  rm -rf "$LAB/debs/cs" "$LAB/csroot"; mkdir -p "$LAB/debs/cs"
  (cd "$LAB/debs/cs" && timeout 900 apt-get download -qq -o APT::Sandbox::User=root corosync dlm-controld libcmap4 libknet1 \
    libnozzle1 libstatgrab10 libdlmcontrol3 libcpg4 libcfg7 libquorum5 libcorosync-common4 libqb100 libvotequorum8)
  for d in "$LAB"/debs/cs/*.deb; do dpkg-deb -x "$d" "$LAB/csroot"; done
  touch "$LAB/csroot/.ready"
fi
if [ ! -f "$LAB/debs/ha/.ready" ]; then
  [ $apt_updated = 1 ] || { timeout 300 apt-get update -qq; apt_updated=1; }
  HA_TOP="corosync pacemaker pacemaker-cli-utils pacemaker-common pacemaker-resource-agents"
  # Their library dependencies, recursively (the programs themselves are picked from HA_TOP).
  HA_LIBS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $HA_TOP | grep '^lib' | grep -v -- '-dev$' | sort -u)
  log "download $HA_TOP and $(echo "$HA_LIBS" | wc -l) library packages"
  rm -rf "$LAB/debs/ha"; mkdir -p "$LAB/debs/ha"
  (cd "$LAB/debs/ha" && timeout 900 apt-get download -qq -o APT::Sandbox::User=root $HA_TOP $HA_LIBS)
  touch "$LAB/debs/ha/.ready"
fi
# A fresh Debian 12 root for the package scenario and the Debian guests. debootstrap runs once per
# machine (about 120 packages, 70 MB; a minute with a near mirror); the tarball is what later runs
# reuse, and the ext4 image is remade from it when missing (7 s). Each step is bounded; debootstrap
# is retried from scratch.
DEBIAN_INCLUDE=mdadm,libdlm3,systemd,systemd-sysv,udev,kmod,iproute2,procps
if [ ! -f "$LAB/debian-rootfs.tar.gz" ] || [ "$(cat "$LAB/debian-rootfs.include" 2>/dev/null)" != "$DEBIAN_INCLUDE" ]; then
  # The first Debian mirror this host's apt uses (deb822 or one-line sources), else deb.debian.org.
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1=="URIs:"{for(i=2;i<=NF;i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}')
  [ -n "$MIRROR" ] || MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" && $3 ~ /^bookworm\/?$/{print $2; exit}')
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  # Behind a proxy that only apt is told about, debootstrap's wget needs it too.
  if [ -z "${http_proxy:-}" ]; then
    eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
    [ -z "${http_proxy:-}" ] || export http_proxy
  fi
  D=$LAB/debian-rootfs.d
  ok=0; t0=$(date +%s)
  for attempt in 1 2 3; do
    rm -rf "$D"
    log "debootstrap --variant=minbase --include=$DEBIAN_INCLUDE bookworm from $MIRROR (attempt $attempt)"
    if timeout 1200 debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" bookworm "$D" "$MIRROR" > "$LAB/debootstrap.log" 2>&1; then ok=1; break; fi
    tail -5 "$LAB/debootstrap.log" >&2; sleep 5
  done
  [ $ok = 1 ] || { echo "setup-host: debootstrap failed 3 times (see $LAB/debootstrap.log)" >&2; exit 1; }
  rm -rf "$D"/var/cache/apt/archives/*.deb "$D"/var/lib/apt/lists/*_Packages
  timeout 600 tar -C "$D" --numeric-owner -czf "$LAB/debian-rootfs.tar.gz.tmp" .
  mv "$LAB/debian-rootfs.tar.gz.tmp" "$LAB/debian-rootfs.tar.gz"
  echo "$DEBIAN_INCLUDE" > "$LAB/debian-rootfs.include"
  rm -rf "$D" "$LAB/debian-rootfs.ext4"
  log "debootstrap took $(( $(date +%s) - t0 ))s: $LAB/debian-rootfs.tar.gz ($(du -h "$LAB/debian-rootfs.tar.gz" | cut -f1))"
fi
if [ ! -f "$LAB/debian-rootfs.ext4" ]; then
  D=$LAB/debian-rootfs.d
  rm -rf "$D"; mkdir -p "$D"
  timeout 600 tar -C "$D" --numeric-owner -xzf "$LAB/debian-rootfs.tar.gz"
  # 1 GiB, sparse: the root takes ~190 MiB and the installed package ~35 MiB.
  rm -f "$LAB/debian-rootfs.ext4.tmp"
  timeout 600 mke2fs -q -F -t ext4 -L debian-root -d "$D" "$LAB/debian-rootfs.ext4.tmp" 1G >/dev/null
  mv "$LAB/debian-rootfs.ext4.tmp" "$LAB/debian-rootfs.ext4"
  rm -rf "$D"
  log "made $LAB/debian-rootfs.ext4 from debian-rootfs.tar.gz"
fi
log "ready: kernel $(cat "$LAB/kroot/.ready") in $LAB"
