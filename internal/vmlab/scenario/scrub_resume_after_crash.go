package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// ScrubOptions is the lab of the scrub scenarios: two guests (one suffices for ScrubNotDropped)
// and two small shared disks, so that a check takes a minute at the speed limit.
var ScrubOptions = vmlab.Options{Nodes: 2, Disks: 2, DiskSize: 128 << 20, UserNet: true}

// scrubArrays is the configuration of an exclusive RAID1 "data" with a scrub section.
func scrubArrays(uuid string, speed int) string {
	return fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb]}\n"+
		"scrub: {checkpoint: 2s, speed_limit: %d}\n", uuid, speed)
}

// createRAID1Data creates the RAID1 "data" on vda vdb on node1, waits for its initial sync,
// optionally writes a 4 KiB block of garbage into vdb's copy of the data (a mismatch for a
// check to find), stops it and returns its UUID.
func createRAID1Data(ctx context.Context, l *vmlab.Lab, corrupt bool) (string, error) {
	script := `mdadm --create /dev/md/data --run --level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 --name=data /dev/vda /dev/vdb >/dev/null 2>&1 || exit 1
mdadm --wait /dev/md/data; mdadm --detail --export /dev/md/data | sed -n 's/^MD_UUID=//p'
off=$(mdadm -E /dev/vdb | sed -n 's/.*Data Offset : \([0-9]*\) sectors.*/\1/p')
mdadm --stop /dev/md/data >/dev/null 2>&1`
	if corrupt {
		script += "\nmdlab odwrite /dev/vdb $((off*512 + 1048576)) not-what-vda-holds"
	}
	out, err := step(ctx, l, 1, slow, "mdadm --create RAID1 data on vda vdb, then stop it", script)
	return strings.TrimSpace(vmlab.Lines(out)[0]), err
}

// mdEvents reads node's view of the cluster's event log.
func mdEvents(ctx context.Context, l *vmlab.Lab, node int) ([]api.Event, error) {
	out, err := step(ctx, l, node, quick, "mdclusterd events --json", "mdclusterd events --json")
	if err != nil {
		return nil, err
	}
	var evs []api.Event
	for _, line := range vmlab.Lines(out) {
		var e api.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("node%d events: %w: %s", node, err, line)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// findEvent returns the last event of a type (and node, if not "") or false.
func findEvent(evs []api.Event, typ, node string) (api.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ && (node == "" || evs[i].Node == node) {
			return evs[i], true
		}
	}
	return api.Event{}, false
}

// syncSettled waits until node's agent runs the array idle and holds no resync lease.
func syncSettled(ctx context.Context, l *vmlab.Lab, node int, md string) error {
	if _, err := waitSync(ctx, l, node, md); err != nil {
		return err
	}
	return waitNoSyncLease(ctx, l, node)
}

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
	if err := startAgent(ctx, l, 1, AgentConfig(1, etcdPort, "10s", "3s", scrubArrays(uuid, 0))); err != nil {
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
	cfg := func(n int) string { return AgentConfig(n, etcdPort, "8s", "3s", scrubArrays(uuid, 2000)) }
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
