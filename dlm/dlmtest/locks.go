package dlmtest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

func testExclusiveAndTryLock(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
	ctx := ctxT(t, 20*time.Second)
	a, err := ss[0].Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode() != dlm.EX || a.Resource() != "r" || a.Token() == 0 {
		t.Fatalf("EX lock: mode %v resource %q token %d", a.Mode(), a.Resource(), a.Token())
	}
	if _, err := ss[1].TryLock(ctx, "r", dlm.PR); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("TryLock PR under EX: got %v, want ErrWouldBlock", err)
	}
	if _, err := ss[1].Lock(ctx, "r", dlm.CR, dlm.NoQueue()); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("Lock CR NoQueue under EX: got %v, want ErrWouldBlock", err)
	}
	nl, err := ss[1].TryLock(ctx, "r", dlm.NL)
	if err != nil {
		t.Fatalf("TryLock NL under EX: %v", err)
	}
	// A refused TryLock leaves nothing behind: EX, NL and nothing waiting.
	info, err := inspector(t, ss[1]).Inspect(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Granted) != 2 || info.Waiting != 0 {
		t.Fatalf("after refused TryLocks: %+v, want the EX and NL holders only", info)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("second Unlock: got %v, want ErrNotHeld", err)
	}
	if err := a.Convert(ctx, dlm.NL); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("Convert after Unlock: got %v, want ErrNotHeld", err)
	}
	// NL is compatible with EX: the other session's NL lock does not stand in the way.
	b, err := ss[1].TryLock(ctx, "r", dlm.EX)
	if err != nil || b.Mode() != dlm.EX {
		t.Fatalf("TryLock EX with only NL held: %v", err)
	}
	if b.Token() <= a.Token() || nl.Token() <= a.Token() {
		t.Fatalf("tokens %d (NL), %d (EX) not above the first EX's %d", nl.Token(), b.Token(), a.Token())
	}
}

func testFIFOAndSharedGrants(t *testing.T, h Harness) {
	ss := sessions(t, h, 4)
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
		waitRequests(t, ss[0], "r", i+2)
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
	if r1.l.Token() == r2.l.Token() {
		t.Fatalf("two grants share token %d", r1.l.Token())
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
	if err := ss[0].CheckToken(ctx, "r", r3.l.Token()); err != nil {
		t.Fatalf("CheckToken current: %v", err)
	}
	for _, old := range []dlm.Token{r1.l.Token(), holder.Token(), 0} {
		if err := ss[0].CheckToken(ctx, "r", old); !errors.Is(err, dlm.ErrStaleToken) {
			t.Fatalf("CheckToken %d: got %v, want ErrStaleToken", old, err)
		}
	}
	if err := ss[0].CheckToken(ctx, "other", r3.l.Token()); !errors.Is(err, dlm.ErrStaleToken) {
		t.Fatalf("CheckToken on another resource: got %v, want ErrStaleToken", err)
	}
}

// testQueueOrder: a request compatible with every holder still waits behind an earlier waiter it
// is incompatible with (FIFO, no starvation of EX), except NL, which is compatible with all.
func testQueueOrder(t *testing.T, h Harness) {
	ss := sessions(t, h, 3)
	ctx := ctxT(t, 30*time.Second)
	a, err := ss[0].Lock(ctx, "r", dlm.PR)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan dlm.Lock, 1)
	go func() {
		l, err := ss[1].Lock(ctx, "r", dlm.EX)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitRequests(t, ss[2], "r", 2)
	if _, err := ss[2].TryLock(ctx, "r", dlm.PR); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("TryLock PR behind a waiting EX: got %v, want ErrWouldBlock", err)
	}
	later := make(chan dlm.Lock, 1)
	go func() {
		l, err := ss[2].Lock(ctx, "r", dlm.CR)
		if err != nil {
			t.Error(err)
		}
		later <- l
	}()
	waitRequests(t, ss[2], "r", 3)
	nl, err := ss[2].TryLock(ctx, "r", dlm.NL)
	if err != nil {
		t.Fatalf("TryLock NL behind waiters: %v", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	ex := <-got
	if ex == nil || ex.Mode() != dlm.EX {
		t.Fatalf("EX waiter: %v", ex)
	}
	select {
	case l := <-later:
		t.Fatalf("CR granted beside EX: %v", l)
	default:
	}
	if err := ex.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	cr := <-later
	if cr == nil || cr.Token() <= ex.Token() || nl.Token() >= ex.Token() {
		t.Fatalf("CR after EX: %v; tokens NL %d EX %d", cr, nl.Token(), ex.Token())
	}
}

func testConvertLVBAndBlockingNotice(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
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
	if err := ss[0].CheckToken(ctx, "r", tok); !errors.Is(err, dlm.ErrStaleToken) {
		t.Fatalf("token of the grant before the conversion: %v, want ErrStaleToken", err)
	}
	b := <-granted
	if b == nil {
		t.FailNow()
	}
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
	waitRequests(t, ss[1], "r", 3) // CR, PR and the conversion
	select {
	case err := <-done:
		t.Fatalf("up-convert returned while PR held: %v", err)
	default:
	}
	// A PR reader cannot write the LVB: WithLVB is ignored below PW.
	if err := b.Unlock(ctx, dlm.WithLVB([]byte("ignored"))); err != nil {
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

func testConversionDeadlock(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
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
	waitRequests(t, ss[1], "r", 3)
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
	if a.Mode() != dlm.EX {
		t.Fatalf("first converter's mode %v, want EX", a.Mode())
	}
}

func testCancelWithdrawsRequest(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
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
	waitRequests(t, ss[0], "r", 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: got %v", err)
	}
	eventually(t, "the cancelled request is withdrawn", func() bool {
		info, err := inspector(t, ss[0]).Inspect(ctx, "r")
		return err == nil && len(info.Granted) == 1 && info.Waiting == 0
	})
	// A cancelled up-conversion keeps the lock in its previous mode.
	b, err := ss[1].Lock(ctx, "r", dlm.NL)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		waitRequests(t, ss[0], "r", 3)
		cancel()
	}()
	if err := b.Convert(cctx, dlm.PR); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Convert: got %v", err)
	}
	if b.Mode() != dlm.NL {
		t.Fatalf("mode after a cancelled conversion: %v, want NL", b.Mode())
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := inspector(t, ss[0]).Inspect(ctx, "r"); err != nil || len(info.Granted) != 1 || info.Granted[0].Mode != dlm.NL {
		t.Fatalf("after the holder left: %+v, %v; want the NL lock only", info, err)
	}
}

func testInvalidRequests(t *testing.T, h Harness) {
	s := sessions(t, h, 1)[0]
	ctx := ctxT(t, 10*time.Second)
	if _, err := s.Lock(ctx, "", dlm.EX); !errors.Is(err, dlm.ErrInvalidResource) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := s.Lock(ctx, string(make([]byte, dlm.MaxResourceLen+1)), dlm.EX); !errors.Is(err, dlm.ErrInvalidResource) {
		t.Errorf("long name: %v", err)
	}
	if _, err := s.Lock(ctx, "r", dlm.Mode(9)); !errors.Is(err, dlm.ErrInvalidMode) {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := s.Lock(ctx, "r", dlm.EX, dlm.WithLVB(make([]byte, dlm.LVBLen+1))); !errors.Is(err, dlm.ErrLVBTooLong) {
		t.Errorf("long LVB: %v", err)
	}
	l, err := s.Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Convert(ctx, dlm.Mode(7)); !errors.Is(err, dlm.ErrInvalidMode) {
		t.Errorf("convert to a bad mode: %v", err)
	}
	s.Close()
	select {
	case <-s.Done():
	default:
		t.Error("Done still open after Close")
	}
	if s.Ctx().Err() == nil {
		t.Error("Ctx not cancelled after Close")
	}
	if _, err := s.Lock(ctx, "r", dlm.EX); !errors.Is(err, dlm.ErrClosed) {
		t.Errorf("closed session: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
