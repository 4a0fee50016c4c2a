package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// EtcdOutage stops the lock service (the host's etcd) for 10 s, then starts it again, while
// node1 holds and writes to the exclusive RAID5 and node2 waits for it. A transient loss of the
// lock service must change nothing: the array keeps running on node1 (sampled every 0.1 s),
// node2 never runs it, no node is reset; and nothing is wedged afterwards: both agents have a
// valid session again, and an operator's mdcadm --stop on node1 hands the array to node2.
func EtcdOutage(ctx context.Context, l *vmlab.Lab, etcd *vmlab.HostEtcd) error {
	const ttl, margin = 30 * time.Second, 5 * time.Second
	uuid, md1, err := exclusivePair(ctx, l, etcd.Port(), ttl, margin)
	if err != nil {
		return err
	}
	if err := writeLoop(ctx, l, 1, "/dev/"+md1, false); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "watch that "+md1+" keeps running (every 0.1 s)",
		fmt.Sprintf(`(while true; do [ "$(cat /sys/block/%s/md/array_state 2>/dev/null)" = "" ] && echo "absent $(cut -d' ' -f1 /proc/uptime)" >> /tmp/presence; sleep 0.1; done) >/dev/null 2>&1 &`, md1)); err != nil {
		return err
	}
	// The outage counts from the moment etcd begins to stop (it stops serving at once, but its
	// Close waits for its clients' streams for a few seconds).
	down := time.Now()
	etcd.Stop()
	l.Logf("host etcd stopped (%.1fs to close)", time.Since(down).Seconds())
	time.Sleep(10*time.Second - time.Since(down))
	if err := etcd.Start(); err != nil {
		return err
	}
	l.Logf("host etcd started again %.1fs after it began to stop", time.Since(down).Seconds())
	for n := 1; n <= 2; n++ {
		if err := waitSession(ctx, l, n, ttl); err != nil {
			return err
		}
	}
	if err := waitActiveOn(ctx, l, 2, "node1"); err != nil {
		return err
	}
	out, err := step(ctx, l, 1, quick, "gaps in node1's array", "cat /tmp/presence 2>/dev/null | wc -l")
	if err != nil {
		return err
	}
	if err := expect("times node1's array was found stopped", out, "0"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if l.Node(n).Exited() {
			return fmt.Errorf("node%d was reset during a 10 s etcd outage (TTL %s)", n, ttl)
		}
	}
	if on2, err := step(ctx, l, 2, quick, "node2 does not run the array", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on2 != "" {
		return fmt.Errorf("node2 runs the array as %q (%v)", on2, err)
	}
	if _, err := step(ctx, l, 1, slow, "mdcadm --stop on node1 (hand the array over)", "mdcadm --stop /dev/md/data 2>&1"); err != nil {
		return err
	}
	md2, _, err := waitAssembled(ctx, l, 2, uuid, 60*time.Second)
	if err != nil {
		return fmt.Errorf("after the outage the lease did not move on: %w", err)
	}
	l.Logf("node2 took the array over as %s after mdcadm --stop on node1", md2)
	return nil
}

// waitSession waits until node's agent reports a valid session.
func waitSession(ctx context.Context, l *vmlab.Lab, node int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := agentStatus(ctx, l, node)
		if err == nil && st.Session.Valid {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node%d has no valid session %s after the lock service came back (%v)", node, within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
