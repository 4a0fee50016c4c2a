#!/bin/sh
# mdcluster-solo.sh: a one-node cluster "mdlab" whose kernel DLM is run by mdclusterd itself, for
# the lab's single-guest tests that need a clustered array (mdadm -X of clustered bitmaps, the
# DLM uevent capture, the OCF agent's clone test, the -X benchmark). It is the real control plane
# (mdcluster/controld), not a test double: the same agent, with its lock engine in-process (embedded
# etcd in /tmp). Idempotent: it returns at once when the agent already runs the DLM.
#
#   mdcluster-solo.sh [UUID=DEV,DEV... ...]   each argument: a clustered array the agent manages
#
# A one-guest lab has no private NIC, so the node's DLM address 192.168.100.1 goes on lo. No
# peer can fail in a one-node cluster; the fence command refuses anyway, should one ever appear.
set -e
if [ -d /sys/kernel/config/dlm/cluster ] && mdclusterd status >/dev/null 2>&1; then exit 0; fi
ip addr show dev lo | grep -q '192.168.100.1/' || ip addr add 192.168.100.1/32 dev lo
mkdir -p /etc/mdcluster /run/mdcluster
arrays="arrays: []"
[ $# -gt 0 ] && arrays="arrays:"
n=0
for a in "$@"; do
  n=$((n + 1))
  arrays="$arrays
  - {uuid: ${a%%=*}, name: clustered$n, mode: clustered, devices: [${a#*=}]}"
done
cat > /etc/mdcluster/mdclusterd.yaml <<EOF
node: {name: node1, id: 1, address: 192.168.100.1}
cluster: {name: mdlab, single_node: true}
lock_engine: {type: etcd-embedded, data_dir: /tmp/mdcluster-etcd}
leases: {ttl: 15s, watchdog_margin: 5s}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
dlm_control: {mode: mdclusterd, fence_command: "echo no peer can fail in a one-node lab >&2; exit 1"}
$arrays
EOF
mdclusterd check-config /etc/mdcluster/mdclusterd.yaml
(setsid mdclusterd run --config /etc/mdcluster/mdclusterd.yaml </dev/null >>/tmp/mdclusterd.log 2>&1 &)
i=0
while [ $i -lt 300 ]; do
  grep -q 'dlm control plane ready' /tmp/mdclusterd.log 2>/dev/null && exit 0
  i=$((i + 1)); sleep 0.2
done
echo "mdcluster-solo: the agent did not bring up the DLM control plane within 60 s:" >&2
cat /tmp/mdclusterd.log >&2
exit 1
