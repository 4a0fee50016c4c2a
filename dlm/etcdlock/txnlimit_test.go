package etcdlock

import (
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// TestGrantMoreWaitersThanTxnOps releases a lock that 130 compatible requests wait for, on an etcd
// member with the default --max-txn-ops (128): no transaction may grant them all, yet every one
// is granted. A holder that watches the resource (it asked for blocking notices) grants the
// waiters in its unlock; one that does not deletes its request and the waiters grant themselves.
// An engine told of a larger limit than the server's learns it from the server's refusal.
func TestGrantMoreWaitersThanTxnOps(t *testing.T) {
	watching := dlm.WithBlockingNotice(func(dlm.Mode) {})
	t.Run("unlock grants", func(t *testing.T) {
		testGrantMany(t, New(shared.cli[0], WithPrefix(uniquePrefix(t))), watching)
	})
	t.Run("waiters grant", func(t *testing.T) {
		testGrantMany(t, New(shared.cli[0], WithPrefix(uniquePrefix(t))))
	})
	t.Run("limit learnt", func(t *testing.T) {
		e := New(shared.cli[0], WithPrefix(uniquePrefix(t)), WithMaxTxnOps(1000))
		testGrantMany(t, e, watching)
		if e.txnOps() >= DefaultMaxTxnOps {
			t.Errorf("engine still assumes %d operations per transaction", e.txnOps())
		}
	})
}

func testGrantMany(t *testing.T, e *Engine, opts ...dlm.LockOption) {
	const waiters = 130
	ss := openN(t, e, 2)
	ctx := ctxT(t, 60*time.Second)
	holder, err := ss[0].Lock(ctx, "r", dlm.EX, opts...)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		l   dlm.Lock
		err error
	}
	got := make(chan res, waiters)
	for range waiters {
		go func() {
			l, err := ss[1].Lock(ctx, "r", dlm.PR)
			got <- res{l, err}
		}()
	}
	waitQueued(t, e, "r", waiters+1)
	if len(opts) > 0 {
		// The holder decides on what its watch has shown it: let it see every waiter.
		eventually(t, "the holder's view has every waiter", func() bool {
			return len(holder.(*Lock).snapshot().entries) == waiters+1
		})
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatalf("releasing a lock %d requests wait for: %v", waiters, err)
	}
	for range waiters {
		r := <-got
		if r.err != nil {
			t.Fatalf("waiter: %v", r.err)
		}
		if r.l.Token() <= holder.Token() {
			t.Errorf("waiter's token %d not above the holder's %d", r.l.Token(), holder.Token())
		}
		defer r.l.Unlock(ctx)
	}
}

// eventually polls cond until it holds or the test's patience (not a timing claim) runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}
