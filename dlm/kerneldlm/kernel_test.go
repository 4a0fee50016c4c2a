package kerneldlm

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mdcluster.dev/dlm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fakeEngine(d *fakeDLM) *Engine { return &Engine{open: d, lockspace: "test"} }

func openFake(t *testing.T, e *Engine) *Session {
	t.Helper()
	s, err := e.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLockBastAndLVB(t *testing.T) {
	e := fakeEngine(newFakeDLM())
	s1, s2 := openFake(t, e), openFake(t, e)
	ctx := ctxT(t)
	basts := make(chan dlm.Mode, 2)
	a, err := s1.Lock(ctx, "res", dlm.EX, dlm.WithBlockingNotice(func(m dlm.Mode) { basts <- m }))
	if err != nil {
		t.Fatal(err)
	}
	if a.Token() != 0 {
		t.Errorf("token %d, want 0 (no tokens in the kernel engine)", a.Token())
	}
	if err := s1.CheckToken(ctx, "res", 1); !errors.Is(err, dlm.ErrNotSupported) {
		t.Errorf("CheckToken: %v", err)
	}
	if _, err := s2.TryLock(ctx, "res", dlm.PR); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("TryLock PR under EX: %v, want ErrWouldBlock", err)
	}
	got := make(chan dlm.Lock, 1)
	go func() {
		l, err := s2.Lock(ctx, "res", dlm.PR)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	if m := <-basts; m != dlm.PR {
		t.Fatalf("bast mode %v, want PR", m)
	}
	if err := a.Convert(ctx, dlm.NL, dlm.WithLVB([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if string(b.LVB()) != "hello" || b.Mode() != dlm.PR {
		t.Fatalf("waiter: mode %v LVB %q, want PR hello", b.Mode(), b.LVB())
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlock(ctx); !errors.Is(err, dlm.ErrNotHeld) {
		t.Fatalf("second unlock: %v", err)
	}
	// Up-convert NL -> EX reads the LVB back.
	if err := a.Convert(ctx, dlm.EX); err != nil {
		t.Fatal(err)
	}
	if string(a.LVB()) != "hello" {
		t.Fatalf("LVB after up-convert %q", a.LVB())
	}
	if err := a.Unlock(ctx, dlm.WithLVB([]byte("bye"))); err != nil {
		t.Fatal(err)
	}
	c, err := s2.TryLock(ctx, "res", dlm.PW)
	if err != nil || string(c.LVB()) != "bye" {
		t.Fatalf("TryLock after unlock: %v, LVB %q", err, c.LVB())
	}
}

func TestConvertNoQueueAndCancel(t *testing.T) {
	e := fakeEngine(newFakeDLM())
	s1, s2 := openFake(t, e), openFake(t, e)
	ctx := ctxT(t)
	a, err := s1.Lock(ctx, "res", dlm.PR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Lock(ctx, "res", dlm.PR); err != nil {
		t.Fatal(err)
	}
	if err := a.Convert(ctx, dlm.EX, dlm.NoQueue()); !errors.Is(err, dlm.ErrWouldBlock) {
		t.Fatalf("NoQueue convert: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Convert(cctx, dlm.EX) }()
	waitConverting(t, e.open.(*fakeDLM), "res")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled convert: %v", err)
	}
	if a.Mode() != dlm.PR {
		t.Fatalf("mode after cancel %v, want PR", a.Mode())
	}
}

func waitConverting(t *testing.T, d *fakeDLM, name string) {
	t.Helper()
	for {
		d.mu.Lock()
		n := len(d.res[name].converting) + len(d.res[name].waiting)
		d.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLockCancelLeavesNothing(t *testing.T) {
	d := newFakeDLM()
	e := fakeEngine(d)
	s1, s2 := openFake(t, e), openFake(t, e)
	ctx := ctxT(t)
	a, err := s1.Lock(ctx, "res", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := s2.Lock(cctx, "res", dlm.EX)
		done <- err
	}()
	waitConverting(t, d, "res")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lock: %v", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	left := len(d.lkbs)
	d.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d lkbs left after cancel and unlock", left)
	}
}

func TestCloseDropsLocks(t *testing.T) {
	d := newFakeDLM()
	e := fakeEngine(d)
	s1, s2 := openFake(t, e), openFake(t, e)
	ctx := ctxT(t)
	if _, err := s1.Lock(ctx, "res", dlm.EX); err != nil {
		t.Fatal(err)
	}
	d.removeFn = func() error { return errFake }
	if err := s1.Close(); !errors.Is(err, errFake) {
		t.Fatalf("Close: %v, want the remove error", err)
	}
	d.removeFn = nil
	<-s1.Done()
	if _, err := s1.Lock(ctx, "res", dlm.NL); !errors.Is(err, dlm.ErrClosed) {
		t.Fatalf("Lock after Close: %v", err)
	}
	if _, err := s2.TryLock(ctx, "res", dlm.EX); err != nil {
		t.Fatalf("TryLock after the holder's fd closed: %v", err)
	}
	if d.creates != 2 || d.removes != 1 {
		t.Fatalf("creates %d removes %d", d.creates, d.removes)
	}
}

// The read loop ignores results for unknown handles and ends the session
// on bytes it cannot decode.
func TestReadLoopDispatch(t *testing.T) {
	d := newFakeDLM()
	e := fakeEngine(d)
	s := openFake(t, e)
	dev := s.dev.(*fakeDev)
	ctx := ctxT(t)
	dev.q <- result(castAddr, 999, 999, 0, 42, 0, nil) // nobody's handle
	l, err := s.Lock(ctx, "res", dlm.CR)
	if err != nil {
		t.Fatalf("Lock after a stray result: %v", err)
	}
	bad := result(castAddr, 1, 1, 0, 1, 0, nil)
	bad[0] = 5 // interface version 5
	dev.q <- bad
	<-s.Done()
	if err := l.Unlock(ctx); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Fatalf("Unlock on a dead session: %v", err)
	}
	if _, err := s.Lock(ctx, "res", dlm.CR); !errors.Is(err, errBadVersion) {
		t.Fatalf("Lock on a dead session should give the cause: %v", err)
	}
}
