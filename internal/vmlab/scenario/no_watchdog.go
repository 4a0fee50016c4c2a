package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// NoWatchdog runs node1's agent with an exclusive RAID5 while another process holds the
// watchdog (as systemd's RuntimeWatchdogSec= or a watchdog daemon would): the agent cannot fence
// the node, so it refuses the array — it never assembles it, its status says why in one line,
// and mdcadm --assemble is refused with that reason. check-config refuses an exclusive array
// without a watchdog at all.
func NoWatchdog(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "another process holds /dev/watchdog (and pets it)",
		`rm -f /tmp/stopwd; (exec 3>/dev/watchdog; while [ ! -e /tmp/stopwd ]; do printf x >&3; sleep 1; done; printf V >&3) >/dev/null 2>&1 &
sleep 0.5`); err != nil {
		return err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	if err := startAgent(ctx, l, 1, vmlab.AgentConfig(1, etcdPort, "10s", "4s", arrays)); err != nil {
		return err
	}
	var problem string
	for i := 0; i < 50 && problem == ""; i++ {
		st, err := agentStatus(ctx, l, 1)
		if err != nil {
			return err
		}
		if len(st.Arrays) == 1 {
			problem = st.Arrays[0].Problem
		}
		time.Sleep(200 * time.Millisecond)
	}
	l.Logf("node1 status: %s", problem)
	if !strings.Contains(problem, "self-fencing unavailable") || strings.Contains(problem, "\n") {
		return fmt.Errorf("node1's status does not say in one line why it refuses the array: %q", problem)
	}
	if on, err := step(ctx, l, 1, quick, "node1 did not assemble the array", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on != "" {
		return fmt.Errorf("node1 runs the array as %q without self-fencing (%v)", on, err)
	}
	r, err := l.Step(ctx, 1, slow, "mdcadm --assemble is refused", "mdcadm --assemble /dev/md/data 2>&1")
	if err == nil || !strings.Contains(r.Stdout, "self-fencing unavailable") {
		return fmt.Errorf("mdcadm --assemble without self-fencing: %q (%v)", r.Stdout, err)
	}
	l.Logf("mdcadm: %s", strings.TrimSpace(r.Stdout))
	cfg := strings.Replace(vmlab.AgentConfig(1, etcdPort, "10s", "4s", arrays), "watchdog: /dev/watchdog", `watchdog: ""`, 1)
	r, err = l.Step(ctx, 1, quick, "check-config refuses an exclusive array without a watchdog",
		"cat > /tmp/nowd.yaml <<'EOF'\n"+cfg+"EOF\nmdclusterd check-config /tmp/nowd.yaml 2>&1")
	if err == nil || !strings.Contains(r.Stdout, "leases.watchdog") {
		return fmt.Errorf("check-config accepted an exclusive array without a watchdog: %q (%v)", r.Stdout, err)
	}
	l.Logf("check-config: %s", strings.TrimSpace(r.Stdout))
	_, err = step(ctx, l, 1, quick, "the other process lets the watchdog go (magic close)",
		"touch /tmp/stopwd; sleep 2")
	return err
}
