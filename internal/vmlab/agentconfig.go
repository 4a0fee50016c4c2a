package vmlab

import (
	"fmt"
	"time"
)

// Step timeouts of the scenarios and the fault campaign. TCG is slow and the host may be
// shared, so they are generous; a step that hangs still ends.
const (
	StepQuick = 30 * time.Second
	StepSlow  = 3 * time.Minute
)

// AgentConfig is the mdclusterd configuration of one lab node using the host's etcd
// (HostEtcd), reached at 10.0.2.2:etcdPort through QEMU user networking; arrays is the
// arrays list's YAML (lines "  - {…}"). The scenarios and the fault campaign use it alike.
func AgentConfig(node, etcdPort int, ttl, margin string, arrays string) string {
	return fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine:
  type: etcd-external
  endpoints: ["http://10.0.2.2:%[2]d"]
  insecure: true
leases: {ttl: %[3]s, watchdog: /dev/watchdog, watchdog_margin: %[4]s}
resync: {max_concurrent: 1}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
arrays:
%[5]s`, node, etcdPort, ttl, margin, arrays)
}
