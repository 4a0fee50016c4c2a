package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// ControldAgentRestart is scenario (c): with md-cluster RAID1 running on two guests, node2's
// agent is killed with SIGKILL. The kernel stops its lockspaces (the agent's dlm-monitor closed),
// the restarted agent resumes its lease and adopts the configfs state, starts them again, and no
// array stops: node1 never sees a failure, and a check (which takes md-cluster's DLM locks
// across both nodes) runs to the end with no mismatch.
func ControldAgentRestart(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	// The restarted agent must pet the watchdog again within its timeout (margin*2/3).
	ttl, margin := 20*time.Second, 9*time.Second
	for n := 1; n <= 2; n++ {
		if err := StartControlPlane(ctx, l, n, etcdPort, ttl, margin); err != nil {
			return err
		}
	}
	if err := createClusteredRAID1(ctx, l, shimEnv); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 4096, "before-kill"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, quick, "kill -9 node2's agent; the kernel stops its lockspaces",
		`kill -9 $(pidof mdclusterd)
for i in $(seq 1 40); do dmesg | grep -q 'no userland control daemon, stopping lockspace' && { dmesg | grep 'no userland control daemon' | tail -1; exit 0; }; sleep 0.25; done
dmesg | tail -20; exit 1`); err != nil {
		return err
	}
	if err := startAgent(ctx, l, 2, ControldConfig(2, etcdPort, ttl, margin)); err != nil {
		return err
	}
	if err := waitLockspacesAdopted(ctx, l, 2); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if st, err := sysfs(ctx, l, n, "md0", "array_state"); err != nil {
			return err
		} else if st == "inactive" || st == "clear" {
			return fmt.Errorf("node%d: md0 is %s after the agent restart", n, st)
		}
	}
	if err := checkClean(ctx, l, 2); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 8192, "after-restart"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 8192, "after-restart"); err != nil {
		return err
	}
	// node1 never took node2 for failed: no fence and no slot recovery in the event log.
	evs, err := mdEvents(ctx, l, 1)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if (e.Type == api.EventFenceStarted || e.Type == api.EventFenceDone || e.Type == api.EventSlotRecovery) && e.Fields["peer_id"] == "2" {
			return fmt.Errorf("node%s took node2 for failed across its agent's restart: %+v", e.Node, e)
		}
	}
	return nil
}

// waitLockspacesAdopted waits until node's restarted agent has resumed its session and the
// kernel has started the lockspaces it had stopped again: the check that follows in the
// scenario runs only in a running lockspace (md-cluster's resync lock and messages), and the
// kernel logs the restart's recovery.
func waitLockspacesAdopted(ctx context.Context, l *vmlab.Lab, node int) error {
	for i := 0; ; i++ {
		st, err := agentStatus(ctx, l, node)
		if err != nil {
			return err
		}
		if st.Session.Valid && st.Session.Resumed {
			break
		}
		if i == 100 {
			return fmt.Errorf("node%d's agent did not resume its session: %+v", node, st.Session)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err := step(ctx, l, node, quick, "the kernel restarted the lockspaces (recovery after the stop)",
		`for i in $(seq 1 100); do dmesg | sed -n '/no userland control daemon/,$p' | grep -q 'dlm_recover .* done' && exit 0; sleep 0.2; done
dmesg | tail -20; exit 1`)
	return err
}
