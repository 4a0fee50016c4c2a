package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ClusterAgentConfig is the configuration of node n of a 3-node lab whose agents form the etcd
// cluster themselves (one member each, on the private network; each agent talks to its local
// member only).
func ClusterAgentConfig(n int, ttl, margin, arrays string) string {
	return fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine:
  type: etcd-cluster
  data_dir: /tmp/etcd
  client_url: http://127.0.0.1:2379
  peer_url: http://192.168.100.%[1]d:2380
  peers:
    - {name: node1, peer_url: "http://192.168.100.1:2380"}
    - {name: node2, peer_url: "http://192.168.100.2:2380"}
    - {name: node3, peer_url: "http://192.168.100.3:2380"}
  insecure: true
leases: {ttl: %[2]s, watchdog: /dev/watchdog, watchdog_margin: %[3]s}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
arrays:
%[4]s`, n, ttl, margin, arrays)
}

// ClusterFailover runs an exclusive RAID5 on three guests whose agents form the etcd cluster:
// one agent assembles it; that node crashes (taking an etcd member with it); one of the two
// survivors, which keep quorum, assembles the array and reads what was written. It returns the
// failover time.
func ClusterFailover(ctx context.Context, l *vmlab.Lab, ttl time.Duration) (time.Duration, error) {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return 0, err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	errs := make(chan error, 3)
	for n := 1; n <= 3; n++ {
		go func(n int) {
			errs <- startAgent(ctx, l, n, ClusterAgentConfig(n, ttl.String(), (ttl/3).String(), arrays))
		}(n)
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	holder, mdName := 0, ""
	for deadline := time.Now().Add(90 * time.Second); holder == 0 && time.Now().Before(deadline); {
		for n := 1; n <= 3 && holder == 0; n++ {
			if name, _, err := waitAssembled(ctx, l, n, uuid, time.Second); err == nil {
				holder, mdName = n, name
			}
		}
	}
	if holder == 0 {
		return 0, fmt.Errorf("no agent assembled the array")
	}
	l.Logf("node%d: its agent holds the activation lease and assembled %s", holder, mdName)
	for n := 1; n <= 3; n++ {
		if n == holder {
			continue
		}
		if on, err := step(ctx, l, n, quick, "does not run the array", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on != "" {
			return 0, fmt.Errorf("node%d runs the array too (%q, %v)", n, on, err)
		}
	}
	if err := odWrite(ctx, l, holder, "/dev/"+mdName, 1<<20, fmt.Sprintf("written-by-node%d", holder)); err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(holder).Crash(cctx); err != nil {
		return 0, err
	}
	l.Logf("node%d: crashed with the lease and an etcd member (TTL %s)", holder, ttl)
	for deadline := time.Now().Add(ttl + 90*time.Second); time.Now().Before(deadline); {
		for n := 1; n <= 3; n++ {
			if n == holder {
				continue
			}
			name, at, err := waitAssembled(ctx, l, n, uuid, 500*time.Millisecond)
			if err != nil {
				continue
			}
			took := at.Sub(crashed)
			l.Logf("node%d: assembled the array as %s %.1fs after the crash (TTL %s)", n, name, took.Seconds(), ttl)
			return took, odRead(ctx, l, n, "/dev/"+name, 1<<20, fmt.Sprintf("written-by-node%d", holder))
		}
	}
	return 0, fmt.Errorf("no survivor assembled the array after node%d crashed", holder)
}
