package agent

import (
	"context"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/api"
)

// holdResult is what a HoldMonitor call gave.
type holdResult struct {
	grants chan api.MonitorGrant
	done   chan error
	cancel context.CancelFunc
}

func hold(t *testing.T, a *tagent, array string) *holdResult {
	ctx, cancel := context.WithCancel(t.Context())
	h := &holdResult{grants: make(chan api.MonitorGrant, 4), done: make(chan error, 1), cancel: cancel}
	go func() {
		h.done <- a.HoldMonitor(ctx, api.MonitorHoldRequest{Array: array, Owner: "test"}, func(g api.MonitorGrant) error {
			h.grants <- g
			return nil
		})
	}()
	return h
}

func (h *holdResult) grant(t *testing.T, within time.Duration) (api.MonitorGrant, bool) {
	t.Helper()
	select {
	case g := <-h.grants:
		return g, true
	case <-time.After(within):
		return api.MonitorGrant{}, false
	}
}

// One node's monitor holds a shared array's delivery lease and advances its cursor; another's
// waits, and gets the lease with the cursor where the first left it when the first goes away.
// A deposed holder's token cannot move the cursor, nor can a stale revision.
func TestMonitorDeliveryLease(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid10)
	b := c.agent("node2", 2, nil, t.TempDir(), raid10)
	a.start()
	b.start()
	ha := hold(t, a, "shared")
	ga, ok := ha.grant(t, 10*time.Second)
	if !ok || ga.Token == 0 || ga.Rev != 0 || ga.Cursor != nil {
		t.Fatalf("node1's grant %+v %v", ga, ok)
	}
	rep, err := a.SaveCursor(t.Context(), api.CursorRequest{Array: "shared", Token: ga.Token, Rev: 0, Cursor: []byte(`{"n":1}`)})
	if err != nil || rep.Rev == 0 {
		t.Fatalf("save: %+v %v", rep, err)
	}
	if _, err := a.SaveCursor(t.Context(), api.CursorRequest{Array: "shared", Token: ga.Token, Rev: 0, Cursor: []byte(`{}`)}); !isConflict(err) {
		t.Fatalf("save at a stale revision: %v", err)
	}
	hb := hold(t, b, "shared")
	if g, ok := hb.grant(t, 300*time.Millisecond); ok {
		t.Fatalf("node2 granted while node1 holds it: %+v", g)
	}
	if _, err := b.SaveCursor(t.Context(), api.CursorRequest{Array: "shared", Token: ga.Token, Rev: rep.Rev, Cursor: []byte(`{}`)}); !isConflict(err) {
		t.Fatalf("node2 saves with node1's token: %v", err)
	}
	ha.cancel() // node1's monitor exits
	gb, ok := hb.grant(t, 10*time.Second)
	if !ok || gb.Rev != rep.Rev || string(gb.Cursor) != `{"n":1}` || gb.Token <= ga.Token {
		t.Fatalf("node2's grant %+v (want node1's cursor at %d)", gb, rep.Rev)
	}
	if _, err := a.SaveCursor(t.Context(), api.CursorRequest{Array: "shared", Token: ga.Token, Rev: rep.Rev, Cursor: []byte(`{}`)}); !isConflict(err) {
		t.Fatalf("node1 saves after it let go: %v", err)
	}
	if _, err := b.SaveCursor(t.Context(), api.CursorRequest{Array: "shared", Token: gb.Token, Rev: rep.Rev, Cursor: []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	// node2's session is lost: its monitor is told to stop delivering.
	b.sm.current().markLost()
	g, ok := hb.grant(t, 10*time.Second)
	if !ok || g.Lost == "" {
		t.Fatalf("after the session was lost: %+v %v", g, ok)
	}
	if _, err := a.SaveCursor(t.Context(), api.CursorRequest{Array: "nope"}); err == nil {
		t.Fatal("unknown array")
	}
}

func isConflict(err error) bool {
	_, ok := err.(*api.ConflictError)
	return ok
}
