#!/bin/bash
# Prepare this Debian 12 host for the mdcluster VM lab. Idempotent; safe to re-run.
#
#  - apt-get installs qemu-system-x86, busybox-static, kmod, cpio, mdadm and gcc, and for the
#    OCF agent, package and metrics tests resource-agents (ocf-tester), libxml2-utils (xmllint),
#    groff-base and prometheus (promtool) (the first install can fail once on these images when
#    the docker-clean hook races an upgrade: retried);
#  - downloads (never installs) the real Debian kernel package behind linux-image-amd64 and
#    libdlm3, unpacks them with dpkg-deb -x under $LAB, and runs depmod on the unpacked tree;
#  - downloads (never installs) pacemaker, corosync and their library packages to $LAB/debs/ha for
#    the Pacemaker scenario (scripts/ocf/build-lab-overlay.sh unpacks them into a lab initramfs).
#
# Everything lands in $LAB (default: <repo>/.lab, git-ignored). Nothing is installed from the
# downloaded packages onto the host.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${MDCLUSTER_LAB:-$(cd "$HERE/../.." && pwd)/.lab}
export DEBIAN_FRONTEND=noninteractive
log() { printf '%s setup-host: %s\n' "$(date +%T)" "$*"; }

need_pkgs=()
for p in qemu-system-x86 busybox-static kmod cpio mdadm gcc libc6-dev resource-agents libxml2-utils groff-base prometheus; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
apt_updated=0
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${need_pkgs[*]}"
  apt-get update -qq; apt_updated=1
  ok=0
  for attempt in 1 2 3; do
    if apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; then ok=1; break; fi
    log "apt-get install failed (attempt $attempt), retrying"; sleep 3
  done
  [ $ok = 1 ] || { echo "setup-host: apt-get install ${need_pkgs[*]} failed 3 times" >&2; exit 1; }
fi

mkdir -p "$LAB/debs"
if [ ! -f "$LAB/kroot/.ready" ]; then
  [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }
  # The versioned image package (linux-image-6.1.0-NN-amd64) that the meta package depends on.
  KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || { echo "setup-host: cannot resolve linux-image-amd64 to a kernel package" >&2; exit 1; }
  log "download $KPKG"
  (cd "$LAB/debs" && rm -f linux-image-*.deb && apt-get download -qq -o APT::Sandbox::User=root "$KPKG")
  rm -rf "$LAB/kroot"
  dpkg-deb -x "$LAB"/debs/"$KPKG"_*.deb "$LAB/kroot"
  KV=$(ls "$LAB/kroot/lib/modules" | head -1)
  /sbin/depmod -b "$LAB/kroot" "$KV"   # the .deb ships no modules.dep (its postinst runs depmod)
  echo "$KPKG $KV" > "$LAB/kroot/.ready"
fi
if [ ! -f "$LAB/dlmroot/.ready" ]; then
  [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }
  log "download libdlm3"
  (cd "$LAB/debs" && rm -f libdlm3_*.deb && apt-get download -qq -o APT::Sandbox::User=root libdlm3)
  rm -rf "$LAB/dlmroot"
  dpkg-deb -x "$LAB"/debs/libdlm3_*.deb "$LAB/dlmroot"
  touch "$LAB/dlmroot/.ready"
fi
# Debian's corosync and dlm_controld for the scenario that compares mdclusterd's DLM control
# plane with them (unpacked only; build-initramfs.sh puts them in a private library directory).
if [ ! -f "$LAB/csroot/.ready" ]; then
  [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }
  log "download corosync and dlm-controld"
  rm -rf "$LAB/debs/cs" "$LAB/csroot"; mkdir -p "$LAB/debs/cs"
  (cd "$LAB/debs/cs" && apt-get download -qq -o APT::Sandbox::User=root corosync dlm-controld libcmap4 libknet1 \
    libnozzle1 libstatgrab10 libdlmcontrol3 libcpg4 libcfg7 libquorum5 libcorosync-common4 libqb100 libvotequorum8)
  for d in "$LAB"/debs/cs/*.deb; do dpkg-deb -x "$d" "$LAB/csroot"; done
  touch "$LAB/csroot/.ready"
fi
if [ ! -f "$LAB/debs/ha/.ready" ]; then
  [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }
  HA_TOP="corosync pacemaker pacemaker-cli-utils pacemaker-common pacemaker-resource-agents"
  # Their library dependencies, recursively (the programs themselves are picked from HA_TOP).
  HA_LIBS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $HA_TOP | grep '^lib' | grep -v -- '-dev$' | sort -u)
  log "download $HA_TOP and $(echo "$HA_LIBS" | wc -l) library packages"
  rm -rf "$LAB/debs/ha"; mkdir -p "$LAB/debs/ha"
  (cd "$LAB/debs/ha" && apt-get download -qq -o APT::Sandbox::User=root $HA_TOP $HA_LIBS)
  touch "$LAB/debs/ha/.ready"
fi
log "ready: kernel $(cat "$LAB/kroot/.ready") in $LAB"
