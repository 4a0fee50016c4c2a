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
	cfg := func(n int) string { return vmlab.AgentConfig(n, etcdPort, "15s", "5s", arrays) }
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
	out, err := agentTally(ctx, l, 1)
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
