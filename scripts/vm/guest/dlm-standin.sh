#!/bin/sh
# TEMPORARY shell stand-in for dlm_controld, for the lab's clustered-md scenario until mdclusterd
# drives the kernel DLM itself. Static membership: nodes 1..$NODES at 192.168.100.N.
#
#   dlm-standin.sh setup          configfs cluster "mdlab" + comms, then serve uevents and peers
#   dlm-standin.sh uevent         run by busybox `uevent` for every kernel uevent (lockspace join/leave)
#   dlm-standin.sh peer           run by `nc -ll -e` per peer request: "join|leave|dead LS NODEID"
#   dlm-standin.sh dead LS NODEID tell the local node that NODEID died (after it was fenced)
C=/sys/kernel/config/dlm/cluster
addnode() { mkdir -p "$C/spaces/$1/nodes/$2" && echo "$2" > "$C/spaces/$1/nodes/$2/nodeid" && echo 1 > "$C/spaces/$1/nodes/$2/weight"; }
lsid() { printf '%d' "0x$(printf %s "$1" | md5sum | cut -c1-7)"; }  # same 28-bit id on every node
klog() { echo "dlm-standin[$NODE]: $*" > /dev/kmsg; }
others() { i=1; while [ "$i" -le "$NODES" ]; do [ "$i" != "$NODE" ] && echo "$i"; i=$((i + 1)); done; }

case "$1" in
setup)
  mkdir "$C" || exit 1
  printf %s mdlab > "$C/cluster_name"   # no trailing newline: the kernel compares it with md's name
  echo 1 > "$C/recover_callbacks"       # md-cluster needs recover_prep/slot/done
  echo 0 > "$C/protocol"                # TCP on tcp_port (21064)
  i=1
  while [ "$i" -le "$NODES" ]; do
    mkdir "$C/comms/$i"; echo "$i" > "$C/comms/$i/nodeid"
    mdlab dlmaddr "$C/comms/$i/addr" "192.168.100.$i" || exit 1
    [ "$i" = "$NODE" ] && echo 1 > "$C/comms/$i/local"
    i=$((i + 1))
  done
  setsid uevent /lab/dlm-standin.sh uevent > /tmp/dlm-uevent.log 2>&1 < /dev/null &
  setsid nc -ll -p 7777 -e /lab/dlm-standin.sh peer > /dev/null 2>&1 < /dev/null &
  klog "configfs cluster ready: $(ls "$C/comms" | tr '\n' ' ')"
  ;;
uevent)
  [ "$SUBSYSTEM" = dlm ] || exit 0
  L=$LOCKSPACE; S=/sys/kernel/dlm/$L
  case "$ACTION" in
  online)
    mkdir -p "$C/spaces/$L"; addnode "$L" "$NODE"; lsid "$L" > "$S/id"
    for p in $(others); do
      r=$(echo "join $L $NODE" | nc -w 3 "192.168.100.$p" 7777 2>/dev/null)
      [ "$r" = member ] && addnode "$L" "$p"
    done
    klog "join $L members: $(ls "$C/spaces/$L/nodes" | tr '\n' ' ')"
    echo 1 > "$S/control"; echo 0 > "$S/event_done"
    ;;
  offline)
    for p in $(others); do echo "leave $L $NODE" | nc -w 3 "192.168.100.$p" 7777 > /dev/null 2>&1; done
    echo 0 > "$S/event_done"
    for n in $(ls "$C/spaces/$L/nodes"); do rmdir "$C/spaces/$L/nodes/$n"; done; rmdir "$C/spaces/$L"
    klog "left $L"
    ;;
  esac
  ;;
peer|dead)
  if [ "$1" = peer ]; then read -r cmd L id; else cmd=dead; L=$2; id=$3; fi
  S=/sys/kernel/dlm/$L
  [ -d "$S" ] || { echo none; exit 0; }
  echo 0 > "$S/control"
  case "$cmd" in
  join) addnode "$L" "$id" ;;
  leave) rmdir "$C/spaces/$L/nodes/$id" ;;
  dead)
    # Removing comms/<id> first makes the kernel treat the node as failed (not as having left),
    # so md-cluster gets recover_slot and recovers the dead node's bitmap slot.
    rmdir "$C/comms/$id" 2>/dev/null; rmdir "$C/spaces/$L/nodes/$id" ;;
  esac
  echo 1 > "$S/control"
  klog "$cmd $L $id: members now $(ls "$C/spaces/$L/nodes" | tr '\n' ' ')"
  echo member
  ;;
*) echo "usage: dlm-standin.sh setup|uevent|peer|dead LS NODEID" >&2; exit 2 ;;
esac
