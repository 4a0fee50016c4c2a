package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
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
	out, err := step(ctx, l, 2, quick, "restarted agent adopted the lockspaces",
		`for i in $(seq 1 100); do grep -q 'lockspace adopted and started' /tmp/mdclusterd.log && { grep -E 'adopted' /tmp/mdclusterd.log; exit 0; }; sleep 0.2; done
cat /tmp/mdclusterd.log; exit 1`)
	if err != nil {
		return err
	}
	st, err := agentStatus(ctx, l, 2)
	if err != nil {
		return err
	}
	if !st.Session.Valid || !st.Session.Resumed || !strings.Contains(out, "adopted=true") {
		return fmt.Errorf("node2's agent did not resume its session (%+v) and adopt the lockspaces:\n%s", st.Session, out)
	}
	for n := 1; n <= 2; n++ {
		if st, err := sysfs(ctx, l, n, "md0", "array_state"); err != nil {
			return err
		} else if st == "inactive" || st == "clear" {
			return fmt.Errorf("node%d: md0 is %s after the agent restart", n, st)
		}
	}
	if _, err := step(ctx, l, 2, quick, "node2 runs a check (md-cluster's resync lock and messages)",
		checkScript); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 2, "md0"); err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, 2, "md0", "mismatch_cnt"); err != nil {
		return err
	} else if err := expect("mismatch_cnt after the check", got, "0"); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 8192, "after-restart"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 8192, "after-restart"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "node1 never saw node2 fail", "! grep 'node failed' /tmp/mdclusterd.log"); err != nil {
		return err
	}
	return nil
}
