package agent

import (
	"slices"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// settled returns a node running the exclusive RAID1 (raid1-bitmap, md0) under its
// activation lease, whose first sync has ended and whose resync lease is back.
func settled(t *testing.T) (*cluster, *tnode) {
	t.Helper()
	c := newCluster(t)
	n := c.node("node1", 1, raid1, raid1Frozen)
	n.open()
	n.mustPass(raid1.UUID)
	n.rec.array(raid1.UUID).unfrozen = time.Now().Add(-time.Hour) // past startGrace
	n.mustPass(raid1.UUID)
	if len(c.holders(syncResource(raid1.UUID))) != 0 {
		t.Fatal("the resync lease was not given back after an idle sync")
	}
	n.md.writes = nil
	return c, n
}

// Every sync state of an exclusive array, with and without the resync lease: what the pass
// writes to md, and whether the node holds the resync lease afterwards.
func TestSyncExclusive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action string // md's sync_action before the pass
		held   bool   // the node holds the resync lease and a slot
		grace  bool   // startGrace has passed since md was let sync
		writes []string
		leased bool
	}{
		{name: "idle", action: "idle", writes: nil, leased: false},
		{name: "frozen by someone: taken and let go", action: "frozen", writes: []string{"md0 sync_action idle"}, leased: true},
		{name: "needed: md started a resync unleased", action: "resync", writes: []string{"md0 sync_action frozen"}, leased: false},
		{name: "recovery unleased", action: "recover", writes: []string{"md0 sync_action frozen"}, leased: false},
		{name: "check requested", action: "check", writes: []string{"md0 sync_action frozen"}, leased: false},
		{name: "repair requested", action: "repair", writes: []string{"md0 sync_action frozen"}, leased: false},
		{name: "held, syncing", action: "resync", held: true, grace: true, writes: nil, leased: true},
		{name: "held, idle within the grace", action: "idle", held: true, writes: nil, leased: true},
		{name: "held, idle after the grace: released", action: "idle", held: true, grace: true, writes: nil, leased: false},
		{name: "held, frozen by someone: released", action: "frozen", held: true, grace: true, writes: nil, leased: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, n := settled(t)
			st := n.rec.array(raid1.UUID)
			s := n.cur.Load()
			if tc.held {
				if ok, err := n.rec.takeSync(t.Context(), s, st); !ok || err != nil {
					t.Fatalf("takeSync: %v %v", ok, err)
				}
				if tc.grace {
					st.unfrozen = time.Now().Add(-time.Hour)
				}
			}
			n.md.set(t, "md0", "sync_action", tc.action)
			n.mustPass(raid1.UUID)
			if got := n.md.log(); !slices.Equal(got, tc.writes) {
				t.Fatalf("md writes %q, want %q", got, tc.writes)
			}
			if got := len(c.holders(syncResource(raid1.UUID))) == 1; got != tc.leased {
				t.Fatalf("resync lease held %v, want %v", got, tc.leased)
			}
		})
	}
}

// A scrub asked for on a managed array (an operator's, cron's or mdcheck's `echo check >
// sync_action`) is held back until the node holds the resync lease, then started as a scrub:
// unfreezing with idle would let md run only what it needs and drop the scrub.
func TestSyncScrubNotDropped(t *testing.T) {
	for _, action := range []string{"check", "repair"} {
		t.Run(action, func(t *testing.T) {
			c, n := settled(t)
			n.md.set(t, "md0", "sync_action", action)
			n.mustPass(raid1.UUID) // frozen: no lease yet
			n.mustPass(raid1.UUID) // lease taken: the scrub starts
			want := []string{"md0 sync_action frozen", "md0 sync_action " + action}
			if got := n.md.log(); !slices.Equal(got, want) {
				t.Fatalf("md writes %q, want %q", got, want)
			}
			if len(c.holders(syncResource(raid1.UUID))) != 1 {
				t.Fatal("the scrub runs without the resync lease")
			}
		})
	}
}

// With every resync slot busy (max_concurrent 1, another array syncing) a frozen sync stays
// frozen and is looked at again later; the array's own resync lease is not kept meanwhile.
func TestSyncSlotBusy(t *testing.T) {
	c, n := settled(t)
	n.md.load(t, "raid1-frozen") // md6, a second exclusive array held frozen
	other := n.rec.array(raid1Frozen.UUID)
	s := n.cur.Load()
	if ok, err := n.rec.takeSync(t.Context(), s, other); !ok || err != nil {
		t.Fatalf("takeSync: %v %v", ok, err)
	}
	n.md.set(t, "md0", "sync_action", "frozen")
	res := n.mustPass(raid1.UUID)
	if res.RequeueAfter == 0 || len(n.md.log()) != 0 || len(c.holders(syncResource(raid1.UUID))) != 0 {
		t.Fatalf("slot busy: result %+v, writes %q", res, n.md.log())
	}
}

// The resync lease lost while md syncs (a definite answer) holds the sync back at once.
func TestSyncLeaseLostWhileSyncing(t *testing.T) {
	c, n := settled(t)
	st := n.rec.array(raid1.UUID)
	if ok, err := n.rec.takeSync(t.Context(), n.cur.Load(), st); !ok || err != nil {
		t.Fatal(ok, err)
	}
	n.md.set(t, "md0", "sync_action", "resync")
	if err := st.sync.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _ = n.pass(raid1.UUID)
	if got := n.md.log(); !slices.Equal(got, []string{"md0 sync_action frozen"}) {
		t.Fatalf("md writes %q", got)
	}
	_ = c
}

// md-cluster arrays: the agent never holds a sync back, whatever md runs (item 16: freezing a
// running md-cluster recovery interrupted it, and the agent's lease around md-cluster's own
// resync lock deadlocked it). The resync lease is taken for a caller only, and given back once
// md is done.
func TestSyncClusteredNeverFrozen(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid10)
	n.open()
	n.md.load(t, "raid10")
	for _, action := range []string{"resync", "recover", "check", "repair", "frozen", "idle"} {
		n.md.set(t, "md2", "sync_action", action)
		n.mustPass(raid10.UUID)
	}
	if len(n.md.log()) != 0 || n.assembled() != 0 || len(c.holders(syncResource(raid10.UUID))) != 0 {
		t.Fatalf("the agent acted on an md-cluster array: %q %q", n.md.log(), n.mdadm.log())
	}
	st := n.rec.array(raid10.UUID)
	st.setIntent(func(i *intent) { i.syncFor = "mdcadm" })
	n.md.set(t, "md2", "sync_action", "recover")
	n.mustPass(raid10.UUID)
	if !n.view(raid10.UUID).syncHere {
		t.Fatal("the caller's recovery lease was not taken")
	}
	st.setIntent(func(i *intent) { i.syncFor = "" })
	n.mustPass(raid10.UUID)
	if !n.view(raid10.UUID).syncHere {
		t.Fatal("the recovery lease went back while md recovers")
	}
	n.md.set(t, "md2", "sync_action", "idle")
	st.unfrozen = time.Now().Add(-time.Hour)
	n.mustPass(raid10.UUID)
	if n.view(raid10.UUID).syncHere || len(n.md.log()) != 0 {
		t.Fatalf("after the recovery: lease %v, writes %q", n.view(raid10.UUID).syncHere, n.md.log())
	}
}

var _ = config.ModeClustered

// An md-cluster array frozen by someone else (mdadm freezes it around a --grow) is shown as
// md shows it, but never as held back: the agent holds back no md-cluster sync (seen in
// MdadmClusterProcedures: status said "held back" after mdadm --grow --size=max).
func TestLocalResyncClusteredFrozenNotHeldBack(t *testing.T) {
	r := &Reconciler{d: Deps{Node: config.Node{Name: "node1"}}}
	for _, tc := range []struct {
		arr     config.Array
		waiting bool
	}{{raid10, false}, {raid5, true}} {
		rs := r.localResync(&arrayState{cfg: tc.arr}, &md.Array{SyncAction: md.SyncFrozen})
		if rs == nil || rs.Action != "frozen" || rs.Waiting != tc.waiting {
			t.Fatalf("%s (%s) frozen by another: %+v, want shown with waiting %v", tc.arr.Name, tc.arr.Mode, rs, tc.waiting)
		}
	}
}
