package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// KillAgent kills node1's agent with SIGKILL three times at different moments while it holds an
// exclusive RAID5 (and node2's agent waits for it) and restarts it at once. The restarted agent
// must resume its session and adopt its lease: the array never stops, is assembled only once,
// node2 never takes it, and node1's watchdog never fires.
func KillAgent(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	cfg := func(n int) string { return AgentConfig(n, etcdPort, "15s", "5s", arrays) }
	if err := startAgent(ctx, l, 1, cfg(1)); err != nil {
		return err
	}
	mdName, _, err := waitAssembled(ctx, l, 1, uuid, 60*time.Second)
	if err != nil {
		return err
	}
	if err := startAgent(ctx, l, 2, cfg(2)); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "watch that "+mdName+" keeps running (every 0.1 s)",
		fmt.Sprintf(`(while true; do [ "$(cat /sys/block/%s/md/array_state 2>/dev/null)" = "" ] && echo "absent $(cut -d' ' -f1 /proc/uptime)" >> /tmp/presence; sleep 0.1; done) >/dev/null 2>&1 &`, mdName)); err != nil {
		return err
	}
	for i, delay := range []string{"0", "0.7", "2"} {
		if _, err := step(ctx, l, 1, quick, fmt.Sprintf("kill -9 mdclusterd (%d/3), %ss after its start", i+1, delay),
			"sleep "+delay+"; kill -9 $(pidof mdclusterd) && sleep 0.2 && ! pidof mdclusterd"); err != nil {
			return err
		}
		if err := startAgent(ctx, l, 1, cfg(1)); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		st, err := agentStatus(wctx, l, 1)
		if err != nil {
			return err
		}
		if len(st.Arrays) == 1 && st.Arrays[0].ActiveOn == "node1" && st.Arrays[0].Device == mdName {
			break
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("node1's restarted agent does not hold the array: %+v", st.Arrays)
		case <-time.After(300 * time.Millisecond):
		}
	}
	time.Sleep(3 * time.Second) // a late stop or a late takeover would show now
	out, err := step(ctx, l, 1, quick, "count assemblies, session resumptions and gaps on node1",
		`echo "assembled=$(grep -c 'msg=assembled' /tmp/mdclusterd.log) resumed=$(grep -c 'resumed the previous' /tmp/mdclusterd.log) stopped=$(grep -c 'stopping' /tmp/mdclusterd.log) absent=$(cat /tmp/presence 2>/dev/null | wc -l)"`)
	if err != nil {
		return err
	}
	l.Logf("node1: %s", out)
	if out != "assembled=1 resumed=3 stopped=0 absent=0" {
		return fmt.Errorf("after three kill -9 and restarts node1 shows %s; want assembled=1 resumed=3 stopped=0 absent=0", out)
	}
	if l.Node(1).Exited() {
		return fmt.Errorf("node1 was reset by its watchdog during an agent restart")
	}
	if on2, err := step(ctx, l, 2, quick, "node2 does not run the array", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on2 != "" {
		return fmt.Errorf("node2 runs the array as %q (%v)", on2, err)
	}
	return nil
}

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
