package etcdlock

import (
	"errors"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// A holder that stops renewing is told (Done) before its lock is gone, and
// the waiter is granted only after the lease has expired in etcd.
func TestSessionExpiryHandsOver(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 2, dlm.WithTTL(2*time.Second))
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
	waitQueued(t, e, "r", 2)
	a.paused.Store(true) // a stalled process: no more renewals

	events := make(chan string, 2)
	go func() { <-a.Done(); events <- "holder done" }()
	go func() { l := <-waiter; events <- "waiter granted"; waiter <- l }()
	if first := <-events; first != "holder done" {
		t.Fatalf("first event %q, want the holder told first", first)
	}
	if second := <-events; second != "waiter granted" {
		t.Fatalf("second event %q", second)
	}
	lb := <-waiter
	// The lease is gone in etcd, and the grant revision is after the
	// revision that deleted the holder's keys.
	ttl, err := e.cli.TimeToLive(ctx, a.Lease())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL != -1 {
		t.Fatalf("holder lease TTL %d after the waiter's grant, want -1 (expired)", ttl.TTL)
	}
	hist, err := e.cli.Get(ctx, e.dir("r")+"q/"+la.(*Lock).id, withRevOpt(int64(lb.Token()>>8)-1)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Kvs) != 0 {
		t.Fatalf("holder's request still present just before the waiter's grant")
	}
	if err := la.Unlock(ctx); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Fatalf("Unlock after expiry: got %v, want ErrSessionExpired", err)
	}
	if _, err := a.Lock(ctx, "x", dlm.NL); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Fatalf("Lock after expiry: got %v, want ErrSessionExpired", err)
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
