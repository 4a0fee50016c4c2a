package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// ExclusiveFailover is the exclusive-activation scenario with a RAID5: node1's agent holds the
// activation lease and assembles the array; node2's agent refuses it (and stops a copy an
// operator assembles by hand); node1 crashes and node2 assembles the array within the TTL plus
// a few seconds, and reads what node1 wrote. It returns the failover time (crash to assembled).
func ExclusiveFailover(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl time.Duration) (time.Duration, error) {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return 0, err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	margin := ttl * 3 / 8 // at 8s, a 3s margin with a 1s watchdog timeout (fence.WatchdogTimeout)
	for n := 1; n <= 2; n++ {
		if err := startAgent(ctx, l, n, vmlab.AgentConfig(n, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
			return 0, err
		}
		if n == 1 {
			mdName, _, err := waitAssembled(ctx, l, 1, uuid, 60*time.Second)
			if err != nil {
				return 0, err
			}
			l.Logf("node1: agent assembled the RAID5 as %s", mdName)
			if err := odWrite(ctx, l, 1, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
				return 0, err
			}
		}
	}
	// node2 must see the array active on node1 and keep it stopped.
	var st api.Status
	for i := 0; i < 50; i++ {
		if st, err = agentStatus(ctx, l, 2); err != nil {
			return 0, err
		}
		if len(st.Arrays) == 1 && st.Arrays[0].ActiveOn == "node1" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(st.Arrays) != 1 || st.Arrays[0].ActiveOn != "node1" || st.Arrays[0].Device != "" {
		return 0, fmt.Errorf("node2's agent should report the array active on node1 and not run it: %+v", st.Arrays)
	}
	l.Logf("node2: agent reports the array active on %s", st.Arrays[0].ActiveOn)
	// An operator assembles it on node2 by hand anyway: the agent must stop that copy.
	if _, err := step(ctx, l, 2, slow, "operator runs mdadm --assemble on node2 by hand",
		"mdadm --assemble /dev/md/data --run /dev/vda /dev/vdb /dev/vdc 2>&1; true"); err != nil {
		return 0, err
	}
	if err := waitStoppedUnleased(ctx, l, 2, uuid); err != nil {
		return 0, err
	}
	crashCtx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(1).Crash(crashCtx); err != nil {
		return 0, err
	}
	l.Logf("node1: crashed (sysrq c) holding the activation lease (TTL %s)", ttl)
	mdName, at, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return 0, err
	}
	failover := at.Sub(crashed)
	l.Logf("node2: assembled the RAID5 as %s %.1fs after node1's crash (TTL %s)", mdName, failover.Seconds(), ttl)
	if err := odRead(ctx, l, 2, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
		return 0, err
	}
	return failover, nil
}

// waitStoppedUnleased waits until node's agent has stopped a copy of the array that ran there
// without the lease, as its status shows (the array's problem names the holder, the counter of
// such stops moved) and md confirms (the array is gone).
func waitStoppedUnleased(ctx context.Context, l *vmlab.Lab, node int, uuid string) error {
	for i := 0; i < 120; i++ {
		st, err := agentStatus(ctx, l, node)
		if err != nil {
			return err
		}
		if st.Actions["stop_unleased"] > 0 {
			on, err := step(ctx, l, node, quick, "the copy is gone", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning")
			if err != nil || on != "" {
				return fmt.Errorf("node%d's agent says it stopped the copy, md still runs it as %q (%v)", node, on, err)
			}
			l.Logf("node%d's agent stopped the unleased copy (%d such stops)", node, st.Actions["stop_unleased"])
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("node%d's agent never stopped the unleased copy", node)
}
