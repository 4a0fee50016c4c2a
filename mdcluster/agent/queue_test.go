package agent

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A key is processed by one worker at a time; a key added while it is processed is processed
// again afterwards; a waiter returns only after a pass that started after its request.
func TestQueue(t *testing.T) {
	q := newQueue()
	t1 := q.add("a")
	q.add("a") // deduplicated
	k, start, ok := q.get()
	if !ok || k != "a" || start < t1 {
		t.Fatalf("get %q %d %v", k, start, ok)
	}
	t2 := q.add("a") // while processing: queued again once done
	waited := make(chan error, 1)
	go func() { waited <- q.wait(context.Background(), "a", t2) }()
	q.finish("a")
	select {
	case err := <-waited:
		t.Fatalf("wait returned after a pass that started before the request: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	k, _, ok = q.get()
	if !ok || k != "a" {
		t.Fatal("the key added during its pass was not queued again")
	}
	q.finish("a")
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	q.addAfter("b", 20*time.Millisecond)
	q.addAfter("c", 0)
	if k, _, _ := q.get(); k != "c" {
		t.Fatalf("got %q, want c first", k)
	}
	q.finish("c")
	if k, _, _ := q.get(); k != "b" {
		t.Fatalf("got %q, want b", k)
	}
	q.finish("b")
	if d1, d2 := q.backoff("x"), q.backoff("x"); d1 != 500*time.Millisecond || d2 != time.Second {
		t.Fatalf("backoff %s %s", d1, d2)
	}
	for i := 0; i < 10; i++ {
		q.backoff("x")
	}
	if d := q.backoff("x"); d != 8*time.Second {
		t.Fatalf("backoff is not bounded: %s", d)
	}
	q.forget("x")
	if d := q.backoff("x"); d != 500*time.Millisecond {
		t.Fatalf("forget did not reset the backoff: %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.wait(ctx, "z", q.add("z")); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	q.addAfter("late", time.Hour)
	q.stop()
	if _, _, ok := q.get(); ok {
		t.Fatal("get after stop")
	}
	if err := q.wait(context.Background(), "y", q.add("y")); !errors.Is(err, errShuttingDown) {
		t.Fatalf("wait after stop: %v", err)
	}
	q.addAfter("after", time.Millisecond)
}
