package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/md"
)

// free: the lease is nobody's. The node takes it, publishes its name, re-checks the token and
// assembles the array read-only, holds its sync back, lets it write, and lets md sync (or not)
// under the resync lease.
func TestActivationFree(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.mustPass(raid5.UUID)
	if got := n.mdadm.log(); len(got) != 1 || !strings.Contains(got[0], "--assemble /dev/md/data --uuid="+raid5.UUID+" --readonly --run /dev/vda /dev/vdb /dev/vdc") {
		t.Fatalf("mdadm calls %q", got)
	}
	if got, want := n.md.log(), []string{"md1 sync_action frozen", "md1 array_state active", "md1 sync_action idle"}; !slices.Equal(got, want) {
		t.Fatalf("md writes %q, want %q", got, want)
	}
	if len(c.holders(syncResource(raid5.UUID))) != 1 || len(c.holders(slotResource(0))) != 1 {
		t.Fatal("md's sync was let go without the resync lease and a slot")
	}
	v := n.view(raid5.UUID)
	if !v.actHere || v.actTok == 0 || v.obs == nil || v.problem != "" {
		t.Fatalf("view %+v", v)
	}
	h := c.holders(actResource(raid5.UUID))
	if len(h) != 1 || h[0].Mode != dlm.PW {
		t.Fatalf("holders %+v, want one PW", h)
	}
	if _, name, ok := parseHolderLVB(inspect(t, n, actResource(raid5.UUID)).LVB); !ok || name != "node1" {
		t.Fatalf("the lease's value block does not name node1")
	}
	// Level-triggered: another pass changes nothing.
	n.mustPass(raid5.UUID)
	if n.assembled() != 1 || len(n.md.log()) != 3 {
		t.Fatalf("a second pass acted again: mdadm %q md %q", n.mdadm.log(), n.md.log())
	}
}

// held: another node holds the lease. This node does not assemble; it names the holder —
// read without queueing, so it works while this node itself waits in the queue — and queues.
func TestActivationHeldElsewhere(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	for i := 0; i < 2; i++ { // the second pass runs while node2 is queued
		n2.mustPass(raid5.UUID)
		if v := n2.view(raid5.UUID); v.holder != "node1" || v.actHere {
			t.Fatalf("pass %d: node2 sees holder %q (here %v), want node1", i, v.holder, v.actHere)
		}
	}
	if n2.assembled() != 0 || len(n2.md.log()) != 0 {
		t.Fatalf("node2 acted on md: %q %q", n2.mdadm.log(), n2.md.log())
	}
	if n2.rec.array(raid5.UUID).waiter == nil {
		t.Fatal("node2 does not wait for the lease")
	}
	st := n2.rec.array(raid5.UUID).status("node2")
	if st.ActiveOn != "node1" {
		t.Fatalf("status active on %q", st.ActiveOn)
	}
}

// A copy running here without the lease (an operator assembled it by hand) is stopped, and the
// problem names the holder.
func TestActivationStopsUnleasedCopy(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.md.load(t, "raid5-nobitmap")
	_, err := n2.pass(raid5.UUID)
	if err == nil || !strings.Contains(err.Error(), "active on node1") {
		t.Fatalf("pass: %v", err)
	}
	if n2.md.present("md1") || n2.stops() != 1 {
		t.Fatal("node2's unleased copy still runs")
	}
	if n2.rec.Counters().Actions["stop_unleased"] != 1 {
		t.Fatalf("counters %+v", n2.rec.Counters())
	}
}

// A copy that cannot be stopped (in use) is reported as such, and nothing else happens.
func TestActivationUnleasedCopyBusy(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.md.load(t, "raid5-nobitmap")
	n2.md.busy["md1"] = true
	_, err := n2.pass(raid5.UUID)
	if err == nil || !strings.Contains(err.Error(), "cannot be stopped") {
		t.Fatalf("pass: %v", err)
	}
}

// queued → granted: the holder stands down (mdcadm --stop): it stops its copy, then gives the
// lease back; the waiting node is granted it and assembles.
func TestActivationStandDownHandsOver(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.mustPass(raid5.UUID)
	n1.md.busy["md1"] = true
	n1.rec.array(raid5.UUID).setIntent(func(i *intent) { i.standby = true })
	if _, err := n1.pass(raid5.UUID); err == nil {
		t.Fatal("standing down a busy array succeeded")
	}
	if !n1.view(raid5.UUID).actHere || len(c.holders(actResource(raid5.UUID))) != 1 {
		t.Fatal("a copy that could not be stopped gave its lease away")
	}
	n1.md.busy["md1"] = false
	n1.mustPass(raid5.UUID)
	if n1.md.present("md1") || n1.view(raid5.UUID).actHere {
		t.Fatal("node1 still runs the array or holds the lease after standing down")
	}
	n2.waitKick(raid5.UUID)
	n2.mustPass(raid5.UUID)
	if !n2.view(raid5.UUID).actHere || n2.assembled() != 1 {
		t.Fatalf("node2 did not take over: %+v", n2.view(raid5.UUID))
	}
	// Standing by, node1 neither takes the lease again nor queues for it.
	n1.mustPass(raid5.UUID)
	if n1.rec.array(raid5.UUID).waiter != nil || n1.assembled() != 1 {
		t.Fatal("node1 queued or assembled while standing by")
	}
}

// lost: the node's session ended (it was cut off): its next session finds the lease with the
// node that took over, and stops the copy still running here.
func TestActivationLostToTakeover(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	s1 := n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.mustPass(raid5.UUID)
	c.svc.Expire(s1.id)
	n2.waitKick(raid5.UUID)
	n2.mustPass(raid5.UUID)
	if !n2.view(raid5.UUID).actHere {
		t.Fatal("node2 did not take over the expired lease")
	}
	// No session: node1 does nothing at all.
	if res, err := n1.pass(raid5.UUID); err != nil || res.RequeueAfter == 0 || n1.stops() != 0 {
		t.Fatalf("node1 without a session: %v %v, stops %d", res, err, n1.stops())
	}
	n1.open()
	if _, err := n1.pass(raid5.UUID); err == nil || !strings.Contains(err.Error(), "active on node2") {
		t.Fatalf("node1's new session: %v", err)
	}
	if n1.md.present("md1") {
		t.Fatal("node1 still runs the array another node took over")
	}
}

// A definite answer that the lease is not ours any more (the lock service lost it) stops the
// copy at once; the lease is taken again on a later pass if it is free.
func TestActivationStaleToken(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.mustPass(raid5.UUID)
	st := n.rec.array(raid5.UUID)
	if err := st.act.Unlock(t.Context()); err != nil { // the lock service no longer has it
		t.Fatal(err)
	}
	if _, err := n.pass(raid5.UUID); err == nil || !strings.Contains(err.Error(), "no longer in force") {
		t.Fatalf("pass: %v", err)
	}
	if n.md.present("md1") || st.actHeld.Load() {
		t.Fatal("a copy whose lease is gone still runs")
	}
}

// Transient lock-service errors (etcd down) change nothing: the lease object is kept, the
// array runs on, and once the service is back the next pass is quiet.
func TestActivationTransientErrors(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.mustPass(raid5.UUID)
	n.eng.Fail()
	for i := 0; i < 3; i++ {
		if _, err := n.pass(raid5.UUID); err == nil || !errors.Is(err, dlm.ErrNoQuorum) {
			t.Fatalf("pass %d during the outage: %v", i, err)
		}
	}
	n.eng.Heal()
	n.mustPass(raid5.UUID)
	if !n.view(raid5.UUID).actHere || n.stops() != 0 || n.assembled() != 1 {
		t.Fatalf("after the outage: here %v, stops %d, assemblies %d", n.view(raid5.UUID).actHere, n.stops(), n.assembled())
	}
}

// A token check that fails right before assembly (the service did not answer) does not
// assemble, and does not drop the lease (item 6: it used to panic there).
func TestActivationTokenCheckFailsBeforeAssembly(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	// TryLock and the convert succeed, the check before mdadm fails.
	n.eng.FailCalls(0)
	st := n.rec.array(raid5.UUID)
	l, err := n.cur.Load().TryLock(t.Context(), actResource(raid5.UUID), dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	st.setAct(l)
	st.gen = n.cur.Load().gen
	n.eng.FailCalls(1)
	if _, err := n.pass(raid5.UUID); err == nil {
		t.Fatal("the pass ignored a failed token check")
	}
	if n.assembled() != 0 || !st.actHeld.Load() {
		t.Fatalf("assemblies %d, lease kept %v", n.assembled(), st.actHeld.Load())
	}
	n.mustPass(raid5.UUID)
	if n.assembled() != 1 {
		t.Fatal("no assembly once the service answered")
	}
}

// A failed md read means no action: no lock call result is acted on, nothing is written.
func TestActivationReadError(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.md.readErr = errors.New("sysfs: EIO")
	if _, err := n.pass(raid5.UUID); err == nil {
		t.Fatal("a failed read passed")
	}
	if n.assembled() != 0 || len(c.holders(actResource(raid5.UUID))) != 0 {
		t.Fatal("acted on a failed read")
	}
	// Running with the lease: a failed read does not assemble it again.
	n.md.readErr = nil
	n.mustPass(raid5.UUID)
	n.md.readErr = errors.New("sysfs: EIO")
	_, _ = n.pass(raid5.UUID)
	if n.assembled() != 1 {
		t.Fatal("a failed read led to a second assembly")
	}
}

// Without self-fencing the node refuses exclusive arrays: it takes no lease, stops a copy
// running here, and says why in one line.
func TestActivationWithoutFencing(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	why := "/dev/watchdog: device or resource busy"
	n.fence.Store(&why)
	n.md.load(t, "raid5-nobitmap")
	_, err := n.pass(raid5.UUID)
	var term terminalError
	if !errors.As(err, &term) || !strings.Contains(err.Error(), "self-fencing unavailable: "+why) {
		t.Fatalf("pass: %v", err)
	}
	if n.md.present("md1") || len(c.holders(actResource(raid5.UUID))) != 0 {
		t.Fatal("an exclusive array runs or is leased without self-fencing")
	}
}

// restarted: a new process resumes the session and adopts its lease; the array is neither
// stopped nor assembled again.
func TestActivationRestartAdopts(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	s := n.open()
	n.mustPass(raid5.UUID)
	s.Session.(interface{ Orphan() }).Orphan() // the process died; its lease lives on
	n2 := c.node("node1", 1, raid5)            // the restarted process, same md
	n2.md, n2.mdadm.md = n.md, n.md
	n2.rec.d.MD = n.md
	rs, err := n2.eng.Resume(t.Context(), s.id)
	if err != nil {
		t.Fatal(err)
	}
	ss := newSession(rs, 1, true)
	sm := &sessionManager{resources: n2.rec.resources, log: discardLog()}
	if err := sm.adopt(t.Context(), ss); err != nil {
		t.Fatal(err)
	}
	n2.cur.Store(ss)
	n2.mustPass(raid5.UUID)
	if !n2.view(raid5.UUID).actHere || n2.assembled() != 0 || n.stops() != 0 {
		t.Fatalf("restart: here %v assemblies %d stops %d", n2.view(raid5.UUID).actHere, n2.assembled(), n.stops())
	}
}

// An unlock the lock service does not answer keeps the lock for a retry; it is given back once
// the service answers (item 5: forgetting it wedged the array cluster-wide).
func TestActivationUnlockErrorRetried(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.mustPass(raid5.UUID)
	n1.rec.array(raid5.UUID).setIntent(func(i *intent) { i.standby = true })
	n1.eng.Fail()
	_, _ = n1.pass(raid5.UUID)
	if n1.md.present("md1") {
		t.Fatal("the local copy was not stopped")
	}
	if len(c.holders(actResource(raid5.UUID))) != 1 || !slices.ContainsFunc(n1.rec.array(raid5.UUID).stale, func(l dlm.Lock) bool { return l.Resource() == actResource(raid5.UUID) }) {
		t.Fatal("the unanswered unlock was not kept for a retry")
	}
	n1.eng.Heal()
	n1.mustPass(raid5.UUID)
	n2.waitKick(raid5.UUID)
	n2.mustPass(raid5.UUID)
	if !n2.view(raid5.UUID).actHere {
		t.Fatal("the lease never reached the waiting node")
	}
}

func inspect(t *testing.T, n *tnode, res string) dlm.ResourceInfo {
	t.Helper()
	info, err := n.cur.Load().Session.(dlm.Inspector).Inspect(t.Context(), res)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

var _ = md.SyncIdle
var _ = time.Second
