package dlmtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// testExpiryHandsOver: a holder whose session expires is told (Done) before its lock goes to the
// waiter; afterwards every call of the dead session says so. (The engines' own tests check the
// same through a lapse, where Done comes TTL/5 before the lock goes.)
func testExpiryHandsOver(t *testing.T, h Harness) {
	ss := sessions(t, h, 2, dlm.WithTTL(h.TTL))
	a, b := ss[0], ss[1]
	ctx := ctxT(t, 60*time.Second)
	la, err := a.Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	waiter := make(chan dlm.Lock, 1)
	go func() {
		l, err := b.Lock(ctx, "r", dlm.EX)
		if err != nil {
			t.Error(err)
		}
		waiter <- l
	}()
	waitRequests(t, b, "r", 2)
	h.Expire(t, a)
	lb := <-waiter
	if lb == nil {
		t.FailNow()
	}
	// Done closed before the grant, so it is closed when the grant is seen.
	select {
	case <-a.Done():
	default:
		t.Fatal("the waiter was granted the lock while the expired holder's Done was open")
	}
	if a.Ctx().Err() == nil {
		t.Error("expired session's Ctx not cancelled")
	}
	if lb.Token() <= la.Token() {
		t.Errorf("waiter's token %d not above the expired holder's %d", lb.Token(), la.Token())
	}
	if err := b.CheckToken(ctx, "r", la.Token()); !errors.Is(err, dlm.ErrStaleToken) {
		t.Errorf("expired holder's token: %v, want ErrStaleToken", err)
	}
	if err := la.Unlock(ctx); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("Unlock after expiry: got %v, want ErrSessionExpired", err)
	}
	if err := la.Convert(ctx, dlm.NL); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("Convert after expiry: got %v, want ErrSessionExpired", err)
	}
	if _, err := a.Lock(ctx, "x", dlm.NL); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("Lock after expiry: got %v, want ErrSessionExpired", err)
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func testIdentified(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
	ids := map[dlm.SessionID]bool{}
	for _, s := range ss {
		id, ok := s.(dlm.Identified)
		if !ok {
			t.Skipf("%T is not dlm.Identified", s)
		}
		if id.ID() == 0 || ids[id.ID()] {
			t.Fatalf("session ID %d: zero or shared", id.ID())
		}
		ids[id.ID()] = true
	}
}

// resumer returns the first engine of a new cluster as a Resumer, or skips the test.
func resumer(t *testing.T, h Harness) (dlm.Engine, dlm.Resumer) {
	c := h.NewCluster(t, 2)
	r, ok := c.Engines[0].(dlm.Resumer)
	if !ok {
		t.Skipf("%T is not a dlm.Resumer", c.Engines[0])
	}
	if h.Orphan == nil {
		t.Fatal("the engine is a dlm.Resumer: the harness must say how to orphan a session")
	}
	return c.Engines[1], r
}

// testResumeAdopt is an agent killed with kill -9 and restarted within its TTL: the new process
// resumes the session, adopts the lock with its mode, token and value block, and nobody else
// can take it in between.
func testResumeAdopt(t *testing.T, h Harness) {
	other, r := resumer(t, h)
	ctx := ctxT(t, 30*time.Second)
	old := open(t, r.(dlm.Engine), dlm.WithTTL(10*time.Second))
	l, err := old.Lock(ctx, "act/a", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Convert(ctx, dlm.PW, dlm.WithLVB([]byte("node1"))); err != nil {
		t.Fatal(err)
	}
	tok := l.Token()
	id := old.(dlm.Identified).ID()
	h.Orphan(old) // the process dies: no revoke, renewals stop
	select {
	case <-old.Done():
	default:
		t.Fatal("orphaned session's Done still open")
	}

	s, err := r.Resume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.(dlm.Identified).ID(); got != id {
		t.Fatalf("resumed session has ID %d, want %d", got, id)
	}
	if d, ok := s.(dlm.Deadliner); ok && !d.Deadline().After(time.Now()) {
		t.Fatalf("resumed session's deadline %v is not in the future", d.Deadline())
	}
	ad, ok := s.(dlm.Adopter)
	if !ok {
		t.Fatalf("resumed %T is not a dlm.Adopter", s)
	}
	got, err := ad.Adopt(ctx, "act/a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode() != dlm.PW || got.Token() != tok || got.Resource() != "act/a" || string(got.LVB()) != "node1" {
		t.Fatalf("adopted lock: %v token %d LVB %q, want PW token %d LVB node1", got.Mode(), got.Token(), got.LVB(), tok)
	}
	if err := s.CheckToken(ctx, "act/a", got.Token()); err != nil {
		t.Fatalf("adopted token no longer current: %v", err)
	}
	if _, err := ad.Adopt(ctx, "act/other"); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("adopting a lock never taken: %v, want ErrNotHeld", err)
	}
	o := open(t, other, dlm.WithTTL(10*time.Second))
	if _, err := o.TryLock(ctx, "act/a", dlm.EX); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("another session took the adopted lock: %v", err)
	}
	cr, err := o.TryLock(ctx, "act/a", dlm.CR)
	if err != nil || string(cr.LVB()) != "node1" {
		t.Fatalf("CR reader: %v, LVB %q; want the holder's name", err, cr.LVB())
	}
	cr.Unlock(ctx)
	if err := got.Convert(ctx, dlm.EX); err != nil {
		t.Fatalf("converting the adopted lock: %v", err)
	}
	if err := got.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	x, err := o.TryLock(ctx, "act/a", dlm.EX)
	if err != nil {
		t.Fatalf("lock not free after the adopted lock was unlocked: %v", err)
	}
	x.Unlock(ctx)
}

// testResumeExpired: a session that was closed, or that expired, cannot be resumed, and the
// error says so (ErrSessionExpired), so that the agent opens a new one.
func testResumeExpired(t *testing.T, h Harness) {
	_, r := resumer(t, h)
	e := r.(dlm.Engine)
	ctx := ctxT(t, 30*time.Second)
	closed := open(t, e, dlm.WithTTL(h.TTL))
	closed.Close() // revoked
	expired := open(t, e, dlm.WithTTL(h.TTL))
	h.Expire(t, expired)
	for name, s := range map[string]dlm.Session{"closed": closed, "expired": expired} {
		if _, err := r.Resume(ctx, s.(dlm.Identified).ID()); !errors.Is(err, dlm.ErrSessionExpired) {
			t.Errorf("resume of a %s session: %v, want ErrSessionExpired", name, err)
		}
	}
}

// testDeadline: the deadline carries a monotonic clock reading (a wall clock step cannot move
// it), lies within a TTL from now, and moves on with the renewals.
func testDeadline(t *testing.T, h Harness) {
	before := time.Now()
	s := sessions(t, h, 1, dlm.WithTTL(h.TTL))[0]
	dl, ok := s.(dlm.Deadliner)
	if !ok {
		t.Skipf("%T is not a dlm.Deadliner", s)
	}
	d := dl.Deadline()
	if !strings.Contains(d.String(), " m=") {
		t.Fatalf("Deadline %v has no monotonic clock reading", d)
	}
	// Engines may round the TTL up to whole seconds.
	if d.Before(before.Add(h.TTL)) || d.After(time.Now().Add(h.TTL+time.Second)) {
		t.Fatalf("Deadline %v outside [%v, %v]", d, before.Add(h.TTL), time.Now().Add(h.TTL+time.Second))
	}
	eventually(t, "the deadline moves on with a renewal", func() bool { return dl.Deadline().After(d) })
	if d := dl.Deadline(); !strings.Contains(d.String(), " m=") {
		t.Fatalf("Deadline %v after a renewal has no monotonic clock reading", d)
	}
}
