package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// AgentRestart restarts node1's agent (SIGTERM, then a new one at once, as `systemctl restart`
// does) while node1 writes to the exclusive RAID5 it holds and keeps it open, and node2 waits
// for the lease. The array is in use, so the stopping agent keeps its session and lease; the new
// one resumes them: the array never stops (sampled every 0.1 s on node1), is assembled once,
// node2 never runs it, node1's watchdog never fires, and node1 still holds the lease.
func AgentRestart(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const ttl, margin = 15 * time.Second, 5 * time.Second
	uuid, md1, err := exclusivePair(ctx, l, etcdPort, ttl, margin)
	if err != nil {
		return err
	}
	if err := writeLoop(ctx, l, 1, "/dev/"+md1, true); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "watch that "+md1+" keeps running (every 0.1 s)",
		fmt.Sprintf(`(while true; do [ "$(cat /sys/block/%s/md/array_state 2>/dev/null)" = "" ] && echo "absent $(cut -d' ' -f1 /proc/uptime)" >> /tmp/presence; sleep 0.1; done) >/dev/null 2>&1 &`, md1)); err != nil {
		return err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	for round := 1; round <= 2; round++ {
		if _, err := signalAgent(ctx, l, 1, "TERM", 30*time.Second); err != nil {
			return err
		}
		if err := startAgent(ctx, l, 1, vmlab.AgentConfig(1, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
			return err
		}
		if err := waitActiveOn(ctx, l, 1, "node1"); err != nil {
			return fmt.Errorf("restart %d: %w", round, err)
		}
	}
	time.Sleep(ttl) // a late takeover would show now
	out, err := agentTally(ctx, l, 1)
	if err != nil {
		return err
	}
	l.Logf("node1: %s", out)
	if err := expect("node1 after two restarts under writes", out, "assembled=1 resumed=2 stopped=0 absent=0"); err != nil {
		return err
	}
	if l.Node(1).Exited() {
		return fmt.Errorf("node1 was reset by its watchdog during an agent restart")
	}
	if on2, err := step(ctx, l, 2, quick, "node2 does not run the array", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on2 != "" {
		return fmt.Errorf("node2 runs the array as %q (%v)", on2, err)
	}
	return waitActiveOn(ctx, l, 2, "node1")
}
