package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// ScrubNotDropped shows the scrub bug fixed on the real kernel: an operator's `echo check >
// sync_action` on a managed exclusive array used to be frozen, then unfrozen with idle, and md
// dropped it. Now it is held back, started under the resync lease, runs to its end, finds the
// mismatch written behind md's back, and the event log says so. Then mdcadm --action=check runs
// one through the agent. It returns the mismatch count.
func ScrubNotDropped(ctx context.Context, l *vmlab.Lab, etcdPort int) (uint64, error) {
	uuid, err := createRAID1Data(ctx, l, true)
	if err != nil {
		return 0, err
	}
	if err := startAgent(ctx, l, 1, vmlab.AgentConfig(1, etcdPort, "10s", "3s", scrubArrays(uuid, 0))); err != nil {
		return 0, err
	}
	md, _, err := waitAssembled(ctx, l, 1, uuid, time.Minute)
	if err != nil {
		return 0, err
	}
	if err := syncSettled(ctx, l, 1, md); err != nil {
		return 0, err
	}
	before, err := sysfs(ctx, l, 1, md, "last_sync_action")
	if err != nil {
		return 0, err
	}
	// At 5 MB/s the check lasts long enough for the agent to see it (it looks every 2 s): the old
	// agent froze it (md logs "data-check interrupted"), then wrote idle, and md never ran it again.
	if _, err := step(ctx, l, 1, quick, "operator: echo check > sync_action (at 5 MB/s)",
		"echo 5000 > /sys/block/"+md+"/md/sync_speed_max; echo check > /sys/block/"+md+"/md/sync_action"); err != nil {
		return 0, err
	}
	out, err := step(ctx, l, 1, slow, "the check runs to its end: md logs data-check done (the old agent dropped it)", fmt.Sprintf(`S=/sys/block/%[1]s/md
for i in $(seq 1 600); do
  dmesg | grep -q 'md: %[1]s: data-check done' && [ "$(cat $S/sync_action)" = idle ] && { cat $S/mismatch_cnt; exit 0; }
  sleep 0.25
done
dmesg | grep 'md: %[1]s: data-check' >&2
echo "check dropped: sync_action $(cat $S/sync_action), last_sync_action $(cat $S/last_sync_action) (was %[2]s)" >&2; exit 1`, md, before))
	if err != nil {
		return 0, err
	}
	mismatches, err := strconv.ParseUint(out, 10, 64)
	if err != nil || mismatches == 0 {
		return 0, fmt.Errorf("mismatch_cnt after the check: %q, want > 0 (a block was corrupted on vdb)", out)
	}
	l.Logf("node1: the check ran under the resync lease to its end: mismatch_cnt %d", mismatches)
	var evs []api.Event
	for i := 0; i < 40; i++ {
		if evs, err = mdEvents(ctx, l, 1); err != nil {
			return 0, err
		}
		if _, ok := findEvent(evs, api.EventScrubMismatch, "node1"); ok {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, typ := range []string{api.EventResyncHeld, api.EventScrubStarted, api.EventScrubFinished, api.EventScrubMismatch} {
		e, ok := findEvent(evs, typ, "node1")
		if !ok {
			return 0, fmt.Errorf("no %s event in the log: %+v", typ, evs)
		}
		l.Logf("event %d %s %s %v", e.Seq, e.Type, e.Reason, e.Fields)
	}
	if f, _ := findEvent(evs, api.EventScrubFinished, "node1"); f.Fields["mismatches"] != out {
		return 0, fmt.Errorf("scrub_finished says %s mismatches, md %s", f.Fields["mismatches"], out)
	}
	return mismatches, scrubThroughMdcadm(ctx, l, md)
}

// scrubThroughMdcadm runs mdcadm --action=check: the agent starts it under the lease, it ends,
// the status records it and the log has the command with its caller.
func scrubThroughMdcadm(ctx context.Context, l *vmlab.Lab, md string) error {
	if _, err := step(ctx, l, 1, quick, "mdcadm --action=check /dev/md/data", "mdcadm --action=check /dev/md/data 2>&1"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "the requested check runs to its end", fmt.Sprintf(`S=/sys/block/%s/md
for i in $(seq 1 600); do [ "$(cat $S/sync_action)" = idle ] && [ "$(cat $S/sync_completed)" = none ] && exit 0; sleep 0.25; done; exit 1`, md)); err != nil {
		return err
	}
	for i := 0; i < 40; i++ {
		st, err := agentStatus(ctx, l, 1)
		if err != nil {
			return err
		}
		evs, err := mdEvents(ctx, l, 1)
		if err != nil {
			return err
		}
		cmd, ok := findEvent(evs, api.EventMdcadm, "node1")
		if len(st.Scrubs) == 1 && st.Scrubs[0].State == "done" && ok && cmd.Fields["args"] == "--action=check /dev/md/data" {
			l.Logf("status: %+v; logged %s %s %v", st.Scrubs[0], cmd.Type, cmd.Reason, cmd.Fields)
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("mdcadm --action=check: no finished scrub in the status, or the command not in the log")
}
