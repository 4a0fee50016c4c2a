package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

// SetSyncMin and SetSyncSpeedMax make testMD a scrubMD: the write is recorded and reads back.
func (m *testMD) SetSyncMin(array string, sectors uint64) error {
	m.record(fmt.Sprintf("%s sync_min %d", array, sectors))
	if err := m.fs.SetSyncMin(array, sectors); err != nil {
		return err
	}
	m.rewrite(array, "sync_min", fmt.Sprint(sectors))
	return nil
}

func (m *testMD) SetSyncSpeedMax(array string, kibps uint64) error {
	v := fmt.Sprint(kibps)
	if kibps == 0 {
		v = "system"
	}
	m.record(array + " sync_speed_max " + v)
	if err := m.fs.SetSyncSpeedMax(array, kibps); err != nil {
		return err
	}
	shown := v + " (local)" // as the kernel shows it
	if kibps == 0 {
		shown = "200000 (system)"
	}
	m.rewrite(array, "sync_speed_max", shown)
	return nil
}

// schedule gives a node a scrub schedule: every hour, any time of day (unless window).
func schedule(n *tnode, window string) {
	n.rec.d.Scrub = config.Scrub{Every: config.Duration{Duration: time.Hour}, Window: window, MaxConcurrent: 1,
		SpeedLimit: 50000, Action: "check", Checkpoint: config.Duration{Duration: time.Nanosecond}}
}

// record reads an array's scrub record from the lock service.
func scrubRecordOf(t *testing.T, n *tnode, uuid string) (scrubRecord, bool) {
	t.Helper()
	kvs, _, err := n.cur.Load().Session.(dlm.StoreSession).Store().Get(t.Context(), n.rec.scrubKey(uuid), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) == 0 {
		return scrubRecord{}, false
	}
	var rec scrubRecord
	if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	if kvs[0].Session != 0 {
		t.Fatalf("scrub record bound to session %d: it must outlive the node", kvs[0].Session)
	}
	return rec, true
}

// pastGrace lets the next pass look at md's sync as settled.
func pastGrace(n *tnode, uuid string) { n.rec.array(uuid).unfrozen = time.Now().Add(-time.Hour) }

// mdFinishes makes md show a check that ended: idle, sync_min back at 0 if completed.
func mdFinishes(t *testing.T, n *tnode, syncMin string, mismatches string) {
	n.md.set(t, "md0", "sync_action", "idle")
	n.md.set(t, "md0", "sync_completed", "none")
	n.md.set(t, "md0", "last_sync_action", "check")
	n.md.set(t, "md0", "sync_min", syncMin)
	n.md.set(t, "md0", "mismatch_cnt", mismatches)
}

// A scheduled scrub starts under the resync lease with the speed limit, is checkpointed while
// md checks, and when md completes it is recorded done with its mismatches (an event and a
// mismatch event), the speed limit goes back and so does the lease; the next is due an hour on.
func TestScrubScheduled(t *testing.T) {
	c, n := settled(t)
	schedule(n, "")
	rec := recordEvents(n)
	n.mustPass(raid1.UUID)
	if got := n.md.log(); !slices.Equal(got, []string{"md0 sync_speed_max 50000", "md0 sync_action check"}) {
		t.Fatalf("start: md writes %q", got)
	}
	if len(c.holders(syncResource(raid1.UUID))) != 1 || len(c.holders(slotResource(0))) != 1 {
		t.Fatal("the scrub runs without the resync lease and a slot")
	}
	r, _ := scrubRecordOf(t, n, raid1.UUID)
	if r.State != scrubRunning || r.Node != "node1" || r.Total != 131072 || r.Requested != "schedule" {
		t.Fatalf("record at start %+v", r)
	}
	n.md.set(t, "md0", "sync_completed", "32768 / 131072")
	n.md.set(t, "md0", "mismatch_cnt", "8")
	n.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n, raid1.UUID); r.Pos != 32768 || r.Mismatches != 8 {
		t.Fatalf("checkpoint %+v", r)
	}
	mdFinishes(t, n, "0", "24")
	pastGrace(n, raid1.UUID)
	n.md.writes = nil
	n.mustPass(raid1.UUID)
	r, _ = scrubRecordOf(t, n, raid1.UUID)
	if r.State != scrubDone || r.Mismatches != 24 || r.Pos != r.Total || r.Finished.IsZero() {
		t.Fatalf("record after the check %+v", r)
	}
	if got := n.md.log(); !slices.Equal(got, []string{"md0 sync_speed_max system"}) {
		t.Fatalf("end: md writes %q", got)
	}
	if len(c.holders(syncResource(raid1.UUID))) != 0 {
		t.Fatal("the resync lease stays after the scrub")
	}
	want := []string{api.EventScrubStarted, api.EventScrubFinished, api.EventScrubMismatch, api.EventResyncFinished}
	if got := rec.types(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	n.md.writes = nil
	n.rec.array(raid1.UUID).scrub.read = time.Time{}
	n.mustPass(raid1.UUID)
	if len(n.md.log()) != 0 {
		t.Fatalf("a finished scrub started again at once: %q", n.md.log())
	}
}

// A scrub whose node dies resumes on the node that takes the array over, from the checkpoint
// (sync_min), with the mismatches found before it.
func TestScrubResumesAfterNodeDeath(t *testing.T) {
	c, n1 := settled(t)
	schedule(n1, "")
	n1.mustPass(raid1.UUID)
	n1.md.set(t, "md0", "sync_completed", "65541 / 131072")
	n1.md.set(t, "md0", "mismatch_cnt", "16")
	n1.mustPass(raid1.UUID)
	n1.cur.Load().Session.(interface{ Expire() }).Expire() // node1 dies

	n2 := c.node("node2", 2, raid1, raid1Frozen)
	schedule(n2, "")
	rec := recordEvents(n2)
	n2.open()
	for i := 0; i < 6 && !slices.Contains(n2.md.log(), "md0 sync_action check"); i++ {
		n2.mustPass(raid1.UUID) // assemble, let md's own (idle) sync go, then the scrub
		pastGrace(n2, raid1.UUID)
	}
	if !slices.Contains(n2.md.log(), "md0 sync_min 65536") || !slices.Contains(n2.md.log(), "md0 sync_action check") {
		t.Fatalf("node2's md writes %q: want the check resumed from sector 65536", n2.md.log())
	}
	r, _ := scrubRecordOf(t, n2, raid1.UUID)
	if r.Node != "node2" || r.Pos != 65536 || r.Base != 16 || r.State != scrubRunning {
		t.Fatalf("record on node2 %+v", r)
	}
	i := slices.Index(rec.types(), api.EventScrubStarted)
	if i < 0 || rec.evs[i].Fields["from"] != "65536" {
		t.Fatalf("events %+v", rec.evs)
	}
	mdFinishes(t, n2, "0", "4")
	pastGrace(n2, raid1.UUID)
	n2.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n2, raid1.UUID); r.State != scrubDone || r.Mismatches != 20 {
		t.Fatalf("after the resumed check %+v: want done with 16+4 mismatches", r)
	}
}

// A scheduled scrub still running when its window closes is stopped; md's own position
// (sync_min) is recorded and it is paused, to resume in the next window.
func TestScrubWindowCloses(t *testing.T) {
	_, n := settled(t)
	schedule(n, "")
	rec := recordEvents(n)
	n.mustPass(raid1.UUID)
	later := time.Now().Add(2 * time.Hour)
	schedule(n, fmt.Sprintf("%02d:%02d-%02d:%02d", later.Hour(), later.Minute(), later.Add(time.Hour).Hour(), later.Minute()))
	n.md.set(t, "md0", "sync_action", "check")
	n.md.writes = nil
	n.mustPass(raid1.UUID)
	if got := n.md.log(); !slices.Equal(got, []string{"md0 sync_action idle"}) {
		t.Fatalf("window closed: md writes %q", got)
	}
	mdFinishes(t, n, "40960", "0")
	pastGrace(n, raid1.UUID)
	n.mustPass(raid1.UUID)
	r, _ := scrubRecordOf(t, n, raid1.UUID)
	if r.State != scrubPaused || r.Pos != 40960 {
		t.Fatalf("record %+v: want paused at md's 40960", r)
	}
	if got := rec.types(); !slices.Contains(got, api.EventScrubPaused) {
		t.Fatalf("events %q", got)
	}
	n.md.writes = nil
	n.rec.array(raid1.UUID).scrub.read = time.Time{}
	n.mustPass(raid1.UUID)
	if len(n.md.log()) != 0 {
		t.Fatalf("resumed outside its window: %q", n.md.log())
	}
	if n.rec.scrubDue(r, 1, time.Now()) || !n.rec.scrubDue(r, 1, later.Add(time.Minute)) {
		t.Fatal("a paused scrub must resume in its window only")
	}
}

// A scrub asked for through the API (mdcadm --action=check) starts at once without a
// schedule; idle cancels it and the record says so; a frozen one is recorded paused.
func TestScrubRequested(t *testing.T) {
	_, n := settled(t)
	st := n.rec.array(raid1.UUID)
	st.setIntent(func(i *intent) { i.scrub, i.scrubBy = "repair", "mdcadm pid 7 uid 0" })
	n.mustPass(raid1.UUID)
	if got := n.md.log(); !slices.Equal(got, []string{"md0 sync_action repair"}) || st.getIntent().scrub != "" {
		t.Fatalf("requested repair: md writes %q, intent %+v", got, st.getIntent())
	}
	n.md.set(t, "md0", "sync_action", "repair")
	st.setIntent(func(i *intent) { i.scrub = api.ScrubIdle })
	n.mustPass(raid1.UUID)
	mdFinishes(t, n, "8", "0")
	n.md.set(t, "md0", "last_sync_action", "repair")
	pastGrace(n, raid1.UUID)
	n.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n, raid1.UUID); r.State != scrubCancelled || r.Requested != "mdcadm pid 7 uid 0" {
		t.Fatalf("record %+v", r)
	}
	// A check someone froze while it ran is a pause, not a finish.
	st.setIntent(func(i *intent) { i.scrub = "check" })
	n.mustPass(raid1.UUID)
	n.md.set(t, "md0", "sync_action", "frozen")
	n.md.set(t, "md0", "sync_min", "0")
	pastGrace(n, raid1.UUID)
	n.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n, raid1.UUID); r.State != scrubPaused {
		t.Fatalf("frozen: %+v", r)
	}
}

// A check written to sync_action by hand is held back, then started under the lease as a
// recorded scrub (resumable), not as an unrecorded sync.
func TestScrubFromSyncAction(t *testing.T) {
	_, n := settled(t)
	n.md.set(t, "md0", "sync_action", "check")
	n.mustPass(raid1.UUID)
	n.mustPass(raid1.UUID)
	r, ok := scrubRecordOf(t, n, raid1.UUID)
	if !ok || r.State != scrubRunning || r.Requested != "sync_action" || !n.rec.array(raid1.UUID).scrub.active {
		t.Fatalf("record %+v", r)
	}
}

// A restarted agent that adopted the resync lease of its predecessor's scrub goes on
// checkpointing it.
func TestScrubAdoptedAfterRestart(t *testing.T) {
	_, n := settled(t)
	schedule(n, "")
	n.mustPass(raid1.UUID)
	st := n.rec.array(raid1.UUID)
	st.scrub = scrubRun{} // a new process: nothing in memory
	n.md.set(t, "md0", "sync_action", "check")
	n.md.set(t, "md0", "sync_completed", "8192 / 131072")
	n.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n, raid1.UUID); !st.scrub.active || r.Pos != 8192 {
		t.Fatalf("adopted: active %v, record %+v", st.scrub.active, r)
	}
}

// md-cluster arrays: a scrub starts on one node under the agent's leases, never frozen first.
func TestScrubClustered(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid10)
	n.open()
	n.md.load(t, "raid10")
	schedule(n, "")
	n.mustPass(raid10.UUID)
	if got := n.md.log(); !slices.Equal(got, []string{"md2 sync_speed_max 50000", "md2 sync_action check"}) {
		t.Fatalf("md writes %q", got)
	}
	if len(c.holders(syncResource(raid10.UUID))) != 1 {
		t.Fatal("no resync lease")
	}
	n2 := c.node("node2", 2, raid10)
	n2.open()
	n2.md.load(t, "raid10")
	schedule(n2, "")
	n2.mustPass(raid10.UUID)
	if len(n2.md.log()) != 0 {
		t.Fatalf("a second node scrubs too: %q", n2.md.log())
	}
}

// A scrub whose record cannot be written does not start.
func TestScrubNeedsItsRecord(t *testing.T) {
	c, n := settled(t)
	schedule(n, "")
	c.svc.FailCalls(3)
	if _, err := n.pass(raid1.UUID); err == nil && slices.Contains(n.md.log(), "md0 sync_action check") {
		t.Fatalf("started without a record: %q", n.md.log())
	}
	if len(c.holders(syncResource(raid1.UUID))) != 0 {
		t.Fatal("the lease stays after a failed start")
	}
}

// mdcadm --action=idle while no scrub runs here cancels a scrub stopped before its end, so that
// nobody resumes it; with nothing to cancel it changes nothing.
func TestScrubCancelPaused(t *testing.T) {
	_, n := settled(t)
	st := n.rec.array(raid1.UUID)
	st.setIntent(func(i *intent) { i.scrub = api.ScrubIdle })
	n.mustPass(raid1.UUID)
	if _, ok := scrubRecordOf(t, n, raid1.UUID); ok {
		t.Fatal("a record written for nothing")
	}
	s := n.cur.Load()
	if err := n.rec.saveScrub(t.Context(), s, st, scrubRecord{State: scrubPaused, Action: "check", Pos: 800, Total: 131072}); err != nil {
		t.Fatal(err)
	}
	rec := recordEvents(n)
	st.setIntent(func(i *intent) { i.scrub = api.ScrubIdle })
	n.mustPass(raid1.UUID)
	if r, _ := scrubRecordOf(t, n, raid1.UUID); r.State != scrubCancelled {
		t.Fatalf("record %+v", r)
	}
	if got := rec.types(); !slices.Equal(got, []string{api.EventScrubCancelled}) {
		t.Fatalf("events %q", got)
	}
	if n.rec.scrubDue(scrubRecord{State: scrubCancelled, Started: time.Now()}, 1, time.Now()) {
		t.Fatal("a cancelled scrub is due again at once")
	}
	n.rec.d.Scrub.Checkpoint.Duration = 0
	if n.rec.checkpointEvery() != 30*time.Second {
		t.Fatal("default checkpoint")
	}
}
