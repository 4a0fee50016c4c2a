package etcdlock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
)

// TestResumeAdopt is an agent killed with kill -9 and restarted within its TTL: the new process
// resumes the lease, adopts the lock with its mode, token and value block, and nobody else can
// take it in between.
func TestResumeAdopt(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ctx := ctxT(t, 30*time.Second)
	old, err := e.Open(ctx, dlm.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	l, err := old.Lock(ctx, "act/a", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Convert(ctx, dlm.PW, dlm.WithLVB([]byte("node1"))); err != nil {
		t.Fatal(err)
	}
	tok := l.Token()
	lease := old.Lease()
	old.Orphan() // the process dies: no revoke, renewals stop

	s, err := e.ResumeLease(ctx, lease)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Deadline().After(time.Now()) {
		t.Fatalf("resumed session's deadline %v is not in the future", s.Deadline())
	}
	got, err := s.Adopt(ctx, "act/a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode() != dlm.PW || got.Token() != tok {
		t.Fatalf("adopted lock: mode %v token %d, want PW token %d", got.Mode(), got.Token(), tok)
	}
	if err := s.CheckToken(ctx, "act/a", got.Token()); err != nil {
		t.Fatalf("adopted token no longer current: %v", err)
	}
	if _, err := s.Adopt(ctx, "act/other"); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("adopting a lock never taken: %v, want ErrNotHeld", err)
	}
	other, err := e.Open(ctx, dlm.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.TryLock(ctx, "act/a", dlm.EX); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("another session took the adopted lock: %v", err)
	}
	cr, err := other.TryLock(ctx, "act/a", dlm.CR)
	if err != nil || string(cr.LVB()) != "node1" {
		t.Fatalf("CR reader: %v, LVB %q; want the holder's name", err, cr.LVB())
	}
	cr.Unlock(ctx)
	if err := got.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	x, err := other.TryLock(ctx, "act/a", dlm.EX)
	if err != nil {
		t.Fatalf("lock not free after the adopted lock was unlocked: %v", err)
	}
	x.Unlock(ctx)
}

func TestResumeExpired(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ctx := ctxT(t, 30*time.Second)
	old, err := e.Open(ctx, dlm.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	lease := old.Lease()
	old.Close() // revoked
	if _, err := e.ResumeLease(ctx, lease); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Fatalf("resume of a revoked lease: %v, want ErrSessionExpired", err)
	}
}

// TestDeadlineMonotonic: the deadline carries a monotonic clock reading, so a step of the wall
// clock (NTP, an operator) cannot move it; and it lies between the send time of the last
// renewal plus the TTL, and now plus the TTL.
func TestDeadlineMonotonic(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	before := time.Now()
	s := openN(t, e, 1, dlm.WithTTL(5*time.Second))[0]
	d := s.Deadline()
	if !strings.Contains(d.String(), " m=") {
		t.Fatalf("Deadline %v has no monotonic clock reading", d)
	}
	if d.Before(before.Add(s.TTL())) || d.After(time.Now().Add(s.TTL())) {
		t.Fatalf("Deadline %v outside [%v, %v]", d, before.Add(s.TTL()), time.Now().Add(s.TTL()))
	}
}

// TestResumeErrorsThatAreNotExpiry: Resume says ErrSessionExpired only when etcd says the lease is
// gone. A lease etcd never granted is gone; a member that does not answer, or a closed client,
// says nothing about the lease: the agent must retry, not open a new session beside the old one.
func TestResumeErrorsThatAreNotExpiry(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ctx := ctxT(t, 30*time.Second)
	if _, err := e.Resume(ctx, dlm.SessionID(0x7e57_0000_0000_0001)); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume of a lease etcd never granted: %v, want ErrSessionExpired", err)
	}
	live := openN(t, e, 1, dlm.WithTTL(10*time.Second))[0]

	urls, err := etcdembed.FreeURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: urls})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = New(dead).Resume(rctx, live.ID())
	cancel()
	if err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume through a member that does not answer: %v, want an error that is not expiry", err)
	}
	dead.Close()
	rctx, cancel = context.WithTimeout(ctx, time.Second)
	_, err = New(dead).Resume(rctx, live.ID())
	cancel()
	if err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume through a closed client: %v, want an error that is not expiry", err)
	}
	rctx, cancel = context.WithCancel(ctx)
	cancel()
	if _, err := e.Resume(rctx, live.ID()); err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume with a cancelled context: %v, want an error that is not expiry", err)
	}
}
