package etcdlock

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

func openN(t *testing.T, e *Engine, n int, opts ...dlm.SessionOption) []*Session {
	t.Helper()
	var ss []*Session
	for range n {
		s, err := e.Open(ctxT(t, 10*time.Second), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ss = append(ss, s)
	}
	return ss
}

func TestExclusiveAndTryLock(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 2)
	ctx := ctxT(t, 20*time.Second)
	a, err := ss[0].Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss[1].TryLock(ctx, "r", dlm.PR); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("TryLock PR under EX: got %v, want ErrWouldBlock", err)
	}
	if _, err := ss[1].TryLock(ctx, "r", dlm.NL); err != nil {
		t.Fatalf("TryLock NL under EX: %v", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("second Unlock: got %v, want ErrNotHeld", err)
	}
	b, err := ss[1].TryLock(ctx, "r", dlm.EX)
	if !errors.Is(err, dlm.ErrWouldBlock) {
		// The NL lock from ss[1] is compatible with EX: must be granted.
		if err != nil {
			t.Fatalf("TryLock EX with only NL held: %v", err)
		}
	}
	if b == nil || b.Mode() != dlm.EX {
		t.Fatalf("TryLock EX: lock %v", b)
	}
}

func TestFIFOAndSharedGrants(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 4)
	ctx := ctxT(t, 30*time.Second)
	holder, err := ss[0].Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		who int
		l   dlm.Lock
		err error
	}
	got := make(chan res, 3)
	// Queue PR, PR then EX, in this order (each enqueued before the next).
	modes := []dlm.Mode{dlm.PR, dlm.PR, dlm.EX}
	for i, m := range modes {
		go func() {
			l, err := ss[i+1].Lock(ctx, "r", m)
			got <- res{i + 1, l, err}
		}()
		waitQueued(t, e, "r", i+2)
	}
	if err := holder.Unlock(ctx, dlm.WithLVB([]byte("v1"))); err != nil {
		t.Fatal(err)
	}
	// The two PR are granted together; EX waits for both.
	r1, r2 := <-got, <-got
	for _, r := range []res{r1, r2} {
		if r.err != nil || r.who == 3 {
			t.Fatalf("first grants: %+v, want the two PR", r)
		}
		if !bytes.Equal(r.l.LVB(), []byte("v1")) {
			t.Fatalf("PR grant LVB %q, want v1", r.l.LVB())
		}
		if r.l.Token() <= holder.Token() {
			t.Fatalf("token %d not above the EX holder's %d", r.l.Token(), holder.Token())
		}
	}
	select {
	case r := <-got:
		t.Fatalf("EX granted while PR held: %+v", r)
	default:
	}
	r1.l.Unlock(ctx)
	r2.l.Unlock(ctx)
	r3 := <-got
	if r3.err != nil || r3.l.Mode() != dlm.EX {
		t.Fatalf("EX waiter: %+v", r3)
	}
	if r3.l.Token() <= max(r1.l.Token(), r2.l.Token()) {
		t.Fatalf("EX token %d not above PR tokens %d %d", r3.l.Token(), r1.l.Token(), r2.l.Token())
	}
	if err := e.CheckToken(ctx, "r", r3.l.Token()); err != nil {
		t.Fatalf("CheckToken current: %v", err)
	}
	if err := e.CheckToken(ctx, "r", r1.l.Token()); !errors.Is(err, dlm.ErrStaleToken) {
		t.Fatalf("CheckToken old: got %v, want ErrStaleToken", err)
	}
}

// waitQueued waits until the resource has n requests (ordering only, no
// timing assertion).
func waitQueued(t *testing.T, e *Engine, res string, n int) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	for {
		resp, err := e.cli.Get(ctx, e.dir(res)+"q/", withPrefix()...)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConvertLVBAndBlockingNotice(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 2)
	ctx := ctxT(t, 30*time.Second)
	notices := make(chan dlm.Mode, 4)
	a, err := ss[0].Lock(ctx, "r", dlm.PW, dlm.WithBlockingNotice(func(m dlm.Mode) { notices <- m }))
	if err != nil {
		t.Fatal(err)
	}
	tok := a.Token()
	granted := make(chan dlm.Lock, 1)
	go func() {
		l, err := ss[1].Lock(ctx, "r", dlm.PR)
		if err != nil {
			t.Error(err)
		}
		granted <- l
	}()
	if m := <-notices; m != dlm.PR {
		t.Fatalf("blocking notice for %v, want PR", m)
	}
	// Down-convert PW -> CR writing the LVB: the PR waiter is granted.
	if err := a.Convert(ctx, dlm.CR, dlm.WithLVB([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	if a.Token() <= tok || a.Mode() != dlm.CR {
		t.Fatalf("after down-convert: mode %v token %d (was %d)", a.Mode(), a.Token(), tok)
	}
	b := <-granted
	if string(b.LVB()) != "hello" {
		t.Fatalf("waiter LVB %q, want hello", b.LVB())
	}
	// Up-convert CR -> EX must wait for the PR holder; NoQueue fails at once.
	if err := a.Convert(ctx, dlm.EX, dlm.NoQueue()); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("NoQueue convert: got %v", err)
	}
	if a.Mode() != dlm.CR {
		t.Fatalf("mode after failed convert: %v", a.Mode())
	}
	done := make(chan error, 1)
	go func() { done <- a.Convert(ctx, dlm.EX) }()
	select {
	case err := <-done:
		t.Fatalf("up-convert returned while PR held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.Mode() != dlm.EX || string(a.LVB()) != "hello" {
		t.Fatalf("after up-convert: %v %q", a.Mode(), a.LVB())
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConversionDeadlock(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 2)
	ctx := ctxT(t, 30*time.Second)
	a, err := ss[0].Lock(ctx, "r", dlm.PR)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ss[1].Lock(ctx, "r", dlm.PR)
	if err != nil {
		t.Fatal(err)
	}
	errA := make(chan error, 1)
	go func() { errA <- a.Convert(ctx, dlm.EX) }()
	waitKeys(t, e, "r", "c/", 1)
	// b's conversion closes the cycle and is the later one: the victim.
	if err := b.Convert(ctx, dlm.EX); !errors.Is(err, dlm.ErrDeadlock) {
		t.Fatalf("second converter: got %v, want ErrDeadlock", err)
	}
	if b.Mode() != dlm.PR {
		t.Fatalf("victim mode %v, want PR kept", b.Mode())
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errA; err != nil {
		t.Fatalf("first converter: %v", err)
	}
}

func waitKeys(t *testing.T, e *Engine, res, kind string, n int) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	for {
		resp, err := e.cli.Get(ctx, e.dir(res)+kind, withPrefix()...)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancelWithdrawsRequest(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ss := openN(t, e, 2)
	ctx := ctxT(t, 30*time.Second)
	a, err := ss[0].Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := ss[1].Lock(wctx, "r", dlm.EX)
		errc <- err
	}()
	waitQueued(t, e, "r", 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: got %v", err)
	}
	resp, err := e.cli.Get(ctx, e.dir("r")+"q/", withPrefix()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("%d requests left, want only the holder's", len(resp.Kvs))
	}
	a.Unlock(ctx)
}

func TestInvalidRequests(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	s := openN(t, e, 1)[0]
	ctx := ctxT(t, 10*time.Second)
	if _, err := s.Lock(ctx, "", dlm.EX); !errors.Is(err, dlm.ErrInvalidResource) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := s.Lock(ctx, "r", dlm.Mode(9)); !errors.Is(err, dlm.ErrInvalidMode) {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := s.Lock(ctx, "r", dlm.EX, dlm.WithLVB(make([]byte, 33))); !errors.Is(err, dlm.ErrLVBTooLong) {
		t.Errorf("long LVB: %v", err)
	}
	s.Close()
	if _, err := s.Lock(ctx, "r", dlm.EX); !errors.Is(err, dlm.ErrClosed) {
		t.Errorf("closed session: %v", err)
	}
}
