package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// Lock is a lock held in a Session. Its methods must not be called
// concurrently with each other.
type Lock struct {
	s   *Session
	res string
	dir string
	id  string

	mu      sync.Mutex
	mode    dlm.Mode
	token   dlm.Token
	lvb     []byte
	held    bool
	v       *view         // latest known state of the resource
	changed chan struct{} // closed and replaced when v changes
	trk     *tracker      // watch keeping v fresh, or nil
	bast    func(dlm.Mode)
	basted  bool // a notice was given for bastM since the last grant
	bastM   dlm.Mode
	minRev  int64 // revision of our last own write: plans need a view this new
	slot    uint64
}

var _ dlm.Lock = (*Lock)(nil)

func (l *Lock) key(kind string) string { return l.dir + kind + "/" + l.id }

// Resource is the name the lock was taken on.
func (l *Lock) Resource() string { return l.res }

// Mode is the mode currently granted.
func (l *Lock) Mode() dlm.Mode { l.mu.Lock(); defer l.mu.Unlock(); return l.mode }

// Token is the fencing token of the current grant: the etcd revision of the
// transaction that granted it.
func (l *Lock) Token() dlm.Token { l.mu.Lock(); defer l.mu.Unlock(); return l.token }

// LVB is the lock value block read with the last grant.
func (l *Lock) LVB() []byte { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.lvb) }

// Lock waits until resource is granted in mode, ctx ends (the request is
// then withdrawn, best effort: if that fails it goes with the session) or
// the session ends (dlm.ErrSessionExpired).
func (s *Session) Lock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	l, err := s.lock(ctx, resource, mode, opts...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// TryLock grants resource in mode only if that is possible at once; else it
// returns dlm.ErrWouldBlock and leaves nothing behind.
func (s *Session) TryLock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	l, err := s.lock(ctx, resource, mode, append(opts, dlm.NoQueue())...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Session) lock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (*Lock, error) {
	if err := dlm.CheckRequest(resource, mode); err != nil {
		return nil, err
	}
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return nil, err
	}
	if err := s.alive("lock", resource); err != nil {
		return nil, err
	}
	l := &Lock{s: s, res: resource, dir: s.eng.dir(resource), bast: o.Blocking, changed: make(chan struct{})}
	l.id, l.slot = s.takeID(resource)
	mval := []byte{byte(mode)}
	lease := clientv3.WithLease(s.lease)
	// Fast path, one round trip: if the resource has no request at all,
	// enqueue and grant at once. Otherwise enqueue (unless NOQUEUE) and read
	// the resource to decide.
	empty := clientv3.Compare(clientv3.CreateRevision(l.dir+"q/"), "=", 0).WithPrefix()
	var els []clientv3.Op
	if !o.NoQueue {
		els = append(els, clientv3.OpPut(l.key("q"), string(mval), lease))
	}
	els = append(els, clientv3.OpGet(l.dir, clientv3.WithPrefix()))
	// The hot path goes without WithRequireLeader (it costs a measurable
	// share of an uncontended round trip); without quorum it fails with
	// etcd's request timeout (dlm.ErrNoQuorum) or the caller's deadline.
	resp, err := s.cli.Txn(ctx).If(empty).
		Then(clientv3.OpPut(l.key("q"), string([]byte{byte(mode), qGranted}), lease), clientv3.OpGet(l.dir+"lvb")).
		Else(els...).Commit()
	if err != nil {
		// The outcome is unknown (e.g. a timeout in a leader failover):
		// the request may be queued or even granted. Take it back.
		l.withdraw()
		return nil, wrapErr("lock", resource, err)
	}
	if resp.Succeeded {
		v := newView()
		v.rev = resp.Header.Revision
		v.entries[l.id] = &entry{id: l.id, lease: int64(s.lease), qRev: v.rev, req: mode, hasG: true, gMod: mode, gRev: v.rev, gTok: mkToken(v.rev, 0)}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			v.lvb = slices.Clone(kvs[0].Value)
		}
		l.v = v
		l.granted(mode, mkToken(v.rev, 0), v.lvb)
		return l, l.startBast()
	}
	l.setView(resp.Responses[len(els)-1].GetResponseRange().Kvs, resp.Header.Revision)
	if o.NoQueue {
		err := l.tryGrantNew(ctx, mode)
		switch {
		case errors.Is(err, dlm.ErrWouldBlock):
			s.releaseID(resource, l.slot) // nothing was written
		case err != nil:
			l.withdraw() // the outcome of the last attempt is unknown
		}
		return l, err
	}
	l.ensureTracker()
	if err := l.wait(ctx, "lock", func(_ *view, me *entry) (bool, error) { return me.hasG, nil }); err != nil {
		l.withdraw()
		return nil, err
	}
	return l, nil
}

// tryGrantNew grants a NOQUEUE request if the DLM would grant it at once.
func (l *Lock) tryGrantNew(ctx context.Context, mode dlm.Mode) error {
	mval := string([]byte{byte(mode)})
	lease := clientv3.WithLease(l.s.lease)
	resp, v, err := l.commit(ctx, "trylock", func(v *view) ([]clientv3.Cmp, []clientv3.Op, error) {
		nv := v.clone()
		nv.entries[l.id] = &entry{id: l.id, lease: int64(l.s.lease), qRev: v.rev + 1, req: mode}
		gs := nv.grantPass()
		if !slices.ContainsFunc(gs, func(g grant) bool { return g.e.id == l.id }) {
			return nil, nil, fmt.Errorf("etcdlock: trylock %q in %v: %w", l.res, mode, dlm.ErrWouldBlock)
		}
		gs = slices.DeleteFunc(gs, func(g grant) bool { return g.e.id == l.id })
		// Unlike a queued request this one has no place in the queue yet:
		// any request added since v would be ahead of it, so q/ is compared too.
		cmps := append(l.baseCmps(v.rev), clientv3.Compare(clientv3.ModRevision(l.dir+"q/"), "<", v.rev+1).WithPrefix())
		ops := []clientv3.Op{clientv3.OpGet(l.dir + "lvb"), clientv3.OpPut(l.key("q"), mval, lease), clientv3.OpPut(l.key("g"), gval(mode, 0), lease)}
		cmps, ops = grantOps(l.dir, gs, 1, cmps, ops, l.s.eng.txnOps())
		return cmps, ops, nil
	})
	if err != nil {
		return err
	}
	var lvb []byte
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		lvb = kvs[0].Value
	}
	_ = v
	l.granted(mode, mkToken(resp.Header.Revision, 0), lvb)
	return l.startBast()
}

// granted records a grant.
func (l *Lock) granted(mode dlm.Mode, token dlm.Token, lvb []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode, l.token, l.lvb, l.held = mode, token, slices.Clone(lvb), true
	l.basted = false
	l.minRev = max(l.minRev, int64(token>>8))
}

// Convert changes the lock's mode (see dlm.Lock). A conversion that is
// granted gets a new fencing token.
func (l *Lock) Convert(ctx context.Context, mode dlm.Mode, opts ...dlm.LockOption) error {
	if err := dlm.CheckRequest(l.res, mode); err != nil {
		return err
	}
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return err
	}
	if err := l.s.alive("convert", l.res); err != nil {
		return err
	}
	l.mu.Lock()
	cur, held, tok := l.mode, l.held, l.token
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("etcdlock: convert %q: %w", l.res, dlm.ErrNotHeld)
	}
	if mode == cur {
		l.mu.Lock()
		l.basted = false // a no-op conversion re-arms notices, as in the DLM
		l.mu.Unlock()
		return nil
	}
	if dlm.Covers(cur, mode) {
		return l.downConvert(ctx, cur, mode, tok, o)
	}
	return l.upConvert(ctx, mode, o)
}

// downConvert is always granted at once; it grants the waiters it unblocks
// in the same transaction and writes the LVB when going down from PW/EX.
func (l *Lock) downConvert(ctx context.Context, cur, mode dlm.Mode, tok dlm.Token, o dlm.LockOptions) error {
	resp, _, err := l.commit(ctx, "convert", func(v *view) ([]clientv3.Cmp, []clientv3.Op, error) {
		me := v.entries[l.id]
		if me == nil || !me.hasG || me.gTok != tok {
			return nil, nil, l.lostErr("convert")
		}
		nv := v.clone()
		nv.entries[l.id].gMod = mode
		gs := nv.grantPass()
		cmps := append(l.baseCmps(v.rev), clientv3.Compare(clientv3.CreateRevision(l.key("q")), "=", me.qRev))
		ops := []clientv3.Op{clientv3.OpPut(l.key("g"), gval(mode, 0), clientv3.WithLease(l.s.lease))}
		if o.LVB != nil && cur.WritesLVB() {
			ops = append(ops, clientv3.OpPut(l.dir+"lvb", string(o.LVB)))
		}
		cmps, ops = grantOps(l.dir, gs, 1, cmps, ops, l.s.eng.txnOps())
		return cmps, ops, nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.mode, l.token, l.basted = mode, mkToken(resp.Header.Revision, 0), false
	l.minRev = resp.Header.Revision
	if o.LVB != nil && cur.WritesLVB() {
		l.lvb = slices.Clone(o.LVB)
	}
	l.mu.Unlock()
	return nil
}

// lostErr explains why our own lock is missing from the resource.
func (l *Lock) lostErr(op string) error {
	if err := l.s.alive(op, l.res); err != nil {
		return err
	}
	return fmt.Errorf("etcdlock: %s %q: %w (its keys are gone: the lease expired)", op, l.res, dlm.ErrSessionExpired)
}

// Unlock releases the lock and, in the same transaction, grants the waiters
// this unblocks. WithLVB writes the value block if the lock is held in PW or
// EX. After a failed Unlock the lock still goes with the session.
func (l *Lock) Unlock(ctx context.Context, opts ...dlm.LockOption) error {
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	cur, held := l.mode, l.held
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("etcdlock: unlock %q: %w", l.res, dlm.ErrNotHeld)
	}
	defer l.stopTracker()
	if err := l.s.alive("unlock", l.res); err != nil {
		return err
	}
	if l.alone() && (o.LVB == nil || !cur.WritesLVB()) {
		// The common uncontended case: our request is the only key of the
		// resource as far as we know, so there is nothing to hand over
		// and a plain delete does (one RPC, no transaction).
		resp, err := l.s.cli.Delete(ctx, l.key("q"))
		if err != nil {
			return wrapErr("unlock", l.res, err)
		}
		l.mu.Lock()
		l.held = false
		l.mu.Unlock()
		l.s.releaseID(l.res, l.slot)
		if resp.Deleted == 0 {
			return l.lostErr("unlock")
		}
		return nil
	}
	resp, _, err := l.commit(ctx, "unlock", func(v *view) ([]clientv3.Cmp, []clientv3.Op, error) {
		me := v.entries[l.id]
		if me == nil {
			return nil, nil, l.lostErr("unlock")
		}
		nv := v.clone()
		delete(nv.entries, l.id)
		gs := nv.grantPass()
		ops := []clientv3.Op{clientv3.OpDelete(l.key("q"))}
		if me.gKey {
			ops = append(ops, clientv3.OpDelete(l.key("g")))
		}
		if me.hasC {
			ops = append(ops, clientv3.OpDelete(l.key("c")))
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(l.key("q")), "=", me.qRev)}
		if o.LVB != nil && cur.WritesLVB() {
			// Write the LVB only while the lock is ours (the compare above).
			ops = append(ops, clientv3.OpPut(l.dir+"lvb", string(o.LVB)))
		} else if len(gs) == 0 {
			// Nothing to hand over (as far as we know): a plain delete.
			// Requests we have not seen grant themselves when they see it.
			return nil, ops, nil
		}
		if len(gs) == 0 {
			return cmps, ops, nil
		}
		cmps, ops = grantOps(l.dir, gs, 0, append(cmps, l.baseCmps(v.rev)...), ops, l.s.eng.txnOps())
		return cmps, ops, nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	l.s.releaseID(l.res, l.slot)
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
		return l.lostErr("unlock")
	}
	return nil
}

// alone reports whether our view is current and holds only our own request,
// granted without a grant key or conversion.
func (l *Lock) alone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	me := l.v.entries[l.id]
	return l.v.rev >= l.minRev && len(l.v.entries) == 1 && me != nil && me.hasG && !me.gKey && !me.hasC
}

// withdraw removes a request that was not granted, or whose outcome is
// unknown. A request left behind would block the resource for as long as the
// session lives, so if the first attempt fails (no leader, say) it is retried
// in the background until it succeeds, the session ends or a TTL has passed.
func (l *Lock) withdraw() {
	l.stopTracker()
	if l.deleteKeys(true) {
		return
	}
	l.s.background(func() {
		ctx, cancel := context.WithTimeout(l.s.ctx, l.s.ttl)
		defer cancel()
		for !l.deleteKeys(false) {
			select {
			case <-ctx.Done():
				return // the keys go with the session's lease
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// deleteKeys deletes the lock's keys; requireLeader makes it fail at once
// when the member has no leader.
func (l *Lock) deleteKeys(requireLeader bool) bool {
	ctx, cancel := context.WithTimeout(l.s.ctx, l.s.ttl/3)
	defer cancel()
	if requireLeader {
		ctx = clientv3.WithRequireLeader(ctx)
	}
	_, err := l.s.cli.Txn(ctx).Then(
		clientv3.OpDelete(l.key("q")), clientv3.OpDelete(l.key("g")), clientv3.OpDelete(l.key("c"))).Commit()
	if err != nil {
		return false
	}
	l.s.releaseID(l.res, l.slot)
	return true
}
