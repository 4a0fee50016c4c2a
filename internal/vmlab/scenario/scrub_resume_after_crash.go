package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// ScrubResume is the figures of a scrub resumed after its node died.
type ScrubResume struct {
	Total        uint64        // sectors a whole check covers
	Checkpoint   uint64        // the position node1 had saved when it crashed
	From         uint64        // node2's sync_min
	FirstSeen    uint64        // node2's first sync_completed
	Node1, Node2 time.Duration // node1's check until the crash; node2's from its start to the end
}

// ScrubResumeAfterCrash starts a check with mdcadm --action on node1 (speed-limited), crashes
// node1 once the cluster state holds a checkpoint past 30 %, and shows on the real kernel that
// node2, which takes the array over, resumes the check from that checkpoint (sync_min), not from
// zero, and finishes it.
func ScrubResumeAfterCrash(ctx context.Context, l *vmlab.Lab, etcdPort int) (ScrubResume, error) {
	var r ScrubResume
	uuid, err := createRAID1Data(ctx, l, false)
	if err != nil {
		return r, err
	}
	cfg := func(n int) string { return vmlab.AgentConfig(n, etcdPort, "8s", "3s", scrubArrays(uuid, 2000)) }
	if err := startAgent(ctx, l, 1, cfg(1)); err != nil {
		return r, err
	}
	md, _, err := waitAssembled(ctx, l, 1, uuid, time.Minute)
	if err != nil {
		return r, err
	}
	if err := startAgent(ctx, l, 2, cfg(2)); err != nil {
		return r, err
	}
	if err := waitActiveOn(ctx, l, 2, "node1"); err != nil {
		return r, err
	}
	if err := syncSettled(ctx, l, 1, md); err != nil {
		return r, err
	}
	if _, err := step(ctx, l, 1, quick, "mdcadm --action=check /dev/md/data", "mdcadm --action=check /dev/md/data 2>&1"); err != nil {
		return r, err
	}
	started := time.Now()
	sc, err := waitCheckpoint(ctx, l, 2, "node1", 0.3)
	if err != nil {
		return r, err
	}
	r.Total, r.Checkpoint = sc.Total, sc.Position
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	if err := l.Node(1).Crash(cctx); err != nil {
		return r, err
	}
	r.Node1 = time.Since(started)
	// The last checkpoint node1 saved before it died (node2 cannot have started yet: it waits
	// for node1's session to expire).
	if st, err := agentStatus(ctx, l, 2); err != nil {
		return r, err
	} else if len(st.Scrubs) == 1 && st.Scrubs[0].Node == "node1" {
		r.Checkpoint = st.Scrubs[0].Position
	}
	l.Logf("node1 crashed %.0fs into its check, checkpoint at sector %d of %d (%.0f%%)", r.Node1.Seconds(), r.Checkpoint, r.Total,
		100*float64(r.Checkpoint)/float64(r.Total))
	md2, _, err := waitAssembled(ctx, l, 2, uuid, 90*time.Second)
	if err != nil {
		return r, err
	}
	t2 := time.Now()
	if r.From, r.FirstSeen, err = resumedCheck(ctx, l, 2, md2); err != nil {
		return r, err
	}
	if r.From == 0 || r.From > r.Checkpoint || r.Checkpoint-r.From >= 8 || r.FirstSeen < r.From {
		return r, fmt.Errorf("node2's check starts at %d (first seen %d), want the checkpoint %d", r.From, r.FirstSeen, r.Checkpoint)
	}
	if _, err := step(ctx, l, 2, slow, "node2's check runs to its end", fmt.Sprintf(`S=/sys/block/%s/md
for i in $(seq 1 1200); do [ "$(cat $S/sync_action)" = idle ] && [ "$(cat $S/last_sync_action)" = check ] && exit 0; sleep 0.25; done; exit 1`, md2)); err != nil {
		return r, err
	}
	r.Node2 = time.Since(t2)
	return r, resumeRecorded(ctx, l, r)
}

// resumeRecorded checks that the cluster state records node2's scrub as done and the log has
// node2's start from the checkpoint.
func resumeRecorded(ctx context.Context, l *vmlab.Lab, r ScrubResume) error {
	for i := 0; i < 60; i++ {
		st, err := agentStatus(ctx, l, 2)
		if err != nil {
			return err
		}
		if len(st.Scrubs) == 1 && st.Scrubs[0].State == "done" && st.Scrubs[0].Node == "node2" {
			evs, err := mdEvents(ctx, l, 2)
			if err != nil {
				return err
			}
			e, ok := findEvent(evs, api.EventScrubStarted, "node2")
			if !ok || e.Fields["from"] != strconv.FormatUint(r.From, 10) {
				return fmt.Errorf("node2's scrub_started event %+v, want from %d", e, r.From)
			}
			l.Logf("node2 resumed at sector %d (first progress %d) and finished in %.0fs; event %d %s %v",
				r.From, r.FirstSeen, r.Node2.Seconds(), e.Seq, e.Type, e.Fields)
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the cluster state never recorded node2's scrub as done")
}

// waitCheckpoint waits until the cluster state, read on node, shows holder's scrub running past
// frac of the array, and returns it.
func waitCheckpoint(ctx context.Context, l *vmlab.Lab, node int, holder string, frac float64) (api.ScrubStatus, error) {
	var sc api.ScrubStatus
	for i := 0; i < 300; i++ {
		st, err := agentStatus(ctx, l, node)
		if err != nil {
			return sc, err
		}
		if len(st.Scrubs) == 1 {
			sc = st.Scrubs[0]
		}
		if sc.State == "running" && sc.Node == holder && sc.Total > 0 && float64(sc.Position) >= frac*float64(sc.Total) {
			return sc, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return sc, fmt.Errorf("no checkpoint of %s past %.0f%% in the cluster state: %+v", holder, 100*frac, sc)
}

// resumedCheck waits until md checks md on node and returns its sync_min and its first
// sync_completed.
func resumedCheck(ctx context.Context, l *vmlab.Lab, node int, md string) (from, first uint64, err error) {
	out, err := step(ctx, l, node, slow, "the check resumes: sync_min and its first progress", fmt.Sprintf(`S=/sys/block/%s/md
for i in $(seq 1 1200); do
  if [ "$(cat $S/sync_action)" = check ]; then c=$(cat $S/sync_completed); [ "$c" != none ] && { echo "$(cat $S/sync_min) ${c%%%% /*}"; exit 0; }; fi
  sleep 0.1
done; exit 1`, md))
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(out, "%d %d", &from, &first); err != nil {
		return 0, 0, fmt.Errorf("node%d sync_min and sync_completed: %q", node, out)
	}
	return from, first, nil
}
