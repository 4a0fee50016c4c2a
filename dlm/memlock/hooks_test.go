package memlock

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, e *Engine, ttl time.Duration) *Session {
	t.Helper()
	s, err := e.Open(context.Background(), dlm.WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// A session that stops renewing (a paused process) is told first: Done closes TTL/5 before its
// deadline, and its lock goes to the waiter only once the service expired it, at the deadline.
func TestStopRenewingHandsOverAfterDeadline(t *testing.T) {
	svc := NewService()
	a, b := open(t, svc.Engine(), time.Second), open(t, svc.Engine(), time.Second)
	ctx := ctxT(t, 10*time.Second)
	la, err := a.Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan time.Time, 1)
	go func() {
		if _, err := b.Lock(ctx, "r", dlm.EX); err != nil {
			t.Error(err)
		}
		granted <- time.Now()
	}()
	waitFor(t, "the waiter queued", func() bool { i, _ := b.Inspect(ctx, "r"); return i.Waiting == 1 })
	a.StopRenewing()
	<-a.Done()
	doneAt := time.Now()
	deadline := a.Deadline()
	at := <-granted
	if at.Before(deadline) {
		t.Errorf("waiter granted at %v, before the holder's deadline %v", at, deadline)
	}
	if !doneAt.Before(deadline) {
		t.Errorf("holder told at %v, not before its deadline %v", doneAt, deadline)
	}
	if err := la.Unlock(ctx); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("Unlock after the lapse: %v, want ErrSessionExpired", err)
	}
	if slices.Contains(svc.Sessions(), a.ID()) {
		t.Errorf("the service still has the lapsed session")
	}
}

// FailCalls(n): the next n calls fail with ErrNoQuorum and change nothing; a failed Unlock keeps
// the lock; then calls succeed again.
func TestFailCalls(t *testing.T) {
	svc := NewService()
	e := svc.Engine()
	s := open(t, e, 5*time.Second)
	ctx := ctxT(t, 10*time.Second)
	l, err := s.Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	e.FailCalls(3)
	if _, err := s.Lock(ctx, "other", dlm.EX); !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("Lock during FailCalls: %v", err)
	}
	if err := l.Unlock(ctx); !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("Unlock during FailCalls: %v", err)
	}
	if err := s.CheckToken(ctx, "r", l.Token()); !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("CheckToken during FailCalls: %v", err)
	}
	if h := svc.Holders("r"); len(h) != 1 || h[0].Token != l.Token() || h[0].Session != s.ID() {
		t.Fatalf("holders after a failed Unlock: %+v, want the lock kept", h)
	}
	if h := svc.Holders("other"); len(h) != 0 {
		t.Fatalf("a failed Lock left %+v", h)
	}
	select {
	case <-s.Done():
		t.Fatal("FailCalls ended the session: renewals must not count")
	default:
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("Unlock after the failures: %v", err)
	}
	if h := svc.Holders("r"); len(h) != 0 {
		t.Fatalf("holders after Unlock: %+v", h)
	}
	// The whole service: any client's calls count.
	svc.FailCalls(1)
	if _, err := svc.Engine().Inspect(ctx, "r"); !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("Inspect during the service's FailCalls: %v", err)
	}
	if _, err := s.Store().Put(ctx, "/k", nil); err != nil {
		t.Fatalf("Put after the failures: %v", err)
	}
}

// Engine.Fail cuts one client off: its waiting request is withdrawn, its watch ends, its session
// lapses (Done first) and the service expires it, granting its lock to the others; after Heal
// it opens a new session.
func TestEngineFailIsAPartition(t *testing.T) {
	svc := NewService()
	cut, other := svc.Engine(), svc.Engine()
	a, b := open(t, cut, time.Second), open(t, other, time.Second)
	ctx := ctxT(t, 10*time.Second)
	if _, err := a.Lock(ctx, "held", dlm.EX); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "wanted", dlm.EX); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { _, err := a.Lock(ctx, "wanted", dlm.EX); waiting <- err }()
	waitFor(t, "a queued", func() bool { i, _ := b.Inspect(ctx, "wanted"); return i.Waiting == 1 })
	wch := a.Store().Watch(ctx, "/", 0)
	cut.Fail()
	if err := <-waiting; !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("waiting Lock when cut off: %v, want ErrNoQuorum", err)
	}
	if i, _ := b.Inspect(ctx, "wanted"); i.Waiting != 0 {
		t.Fatalf("the cut-off request still waits: %+v", i)
	}
	if r := <-wch; !errors.Is(r.Err, dlm.ErrNoQuorum) {
		t.Fatalf("watch when cut off: %+v", r)
	}
	got := make(chan struct{})
	go func() {
		if _, err := b.Lock(ctx, "held", dlm.EX); err != nil {
			t.Error(err)
		}
		close(got)
	}()
	<-a.Done()
	select {
	case <-got:
		t.Fatal("the cut-off node's lock was granted before its session lapsed")
	default:
	}
	<-got
	cut.Heal()
	if s, err := cut.Open(ctx); err != nil {
		t.Fatalf("a new session after Heal: %v", err)
	} else {
		s.Close()
	}
}

// Service.Fail is etcd without a leader: no lease expires meanwhile (sessions still end at their
// own deadline, as renewals fail), and Heal gives every lease a full TTL again.
func TestServiceFailKeepsLeases(t *testing.T) {
	svc := NewService()
	a := open(t, svc.Engine(), time.Second)
	svc.Fail()
	<-a.Done()
	time.Sleep(time.Until(a.Deadline()) + 300*time.Millisecond)
	if !slices.Contains(svc.Sessions(), a.ID()) {
		t.Fatal("a lease expired while the service had no quorum")
	}
	if err := a.Close(); !errors.Is(err, dlm.ErrNoQuorum) {
		t.Fatalf("Close without quorum: %v, want ErrNoQuorum", err)
	}
	svc.Heal()
	if s, err := svc.Engine().Resume(context.Background(), a.ID()); err != nil {
		t.Fatalf("resuming after Heal: %v", err)
	} else {
		s.Close()
	}
	if slices.Contains(svc.Sessions(), a.ID()) {
		t.Fatal("the closed session lives on")
	}
	if svc.Expire(a.ID()) {
		t.Fatal("Expire of a session the service no longer has")
	}
}
