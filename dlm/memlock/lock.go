package memlock

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"mdcluster.dev/dlm"
)

// Lock is a lock held in a Session. Its methods must not be called concurrently with each other.
type Lock struct {
	s   *Session
	svc *Service
	res string
	req *request // the service's record, read under svc.mu

	mu    sync.Mutex // the client's view
	mode  dlm.Mode
	token dlm.Token
	lvb   []byte
	held  bool
}

var _ dlm.Lock = (*Lock)(nil)

// Resource is the name the lock was taken on.
func (l *Lock) Resource() string { return l.res }

// Mode is the mode currently granted.
func (l *Lock) Mode() dlm.Mode { l.mu.Lock(); defer l.mu.Unlock(); return l.mode }

// Token is the fencing token of the current grant.
func (l *Lock) Token() dlm.Token { l.mu.Lock(); defer l.mu.Unlock(); return l.token }

// LVB is the lock value block read with the last grant.
func (l *Lock) LVB() []byte { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.lvb) }

// granted records the service's grant in the client's view. svc.mu must be held.
func (l *Lock) granted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode, l.token, l.lvb, l.held = l.req.mode, l.req.token, cloneLVB(l.req.lvb), true
}

// Lock waits until resource is granted in mode, ctx ends (the request is withdrawn), the
// session ends, or calls of this client start failing (dlm.ErrNoQuorum; withdrawn too).
func (s *Session) Lock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	l, err := s.lock(ctx, resource, mode, false, opts...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// TryLock grants resource in mode only if that is possible at once; else it returns
// dlm.ErrWouldBlock and leaves nothing behind.
func (s *Session) TryLock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	l, err := s.lock(ctx, resource, mode, true, opts...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Session) lock(ctx context.Context, resource string, mode dlm.Mode, try bool, opts ...dlm.LockOption) (*Lock, error) {
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
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlock: lock %q: %w", resource, err)
	}
	svc := s.svc
	svc.mu.Lock()
	if err := svc.call(s.eng, "lock", resource); err != nil {
		svc.mu.Unlock()
		return nil, err
	}
	lease := svc.leases[s.id]
	if lease == nil {
		svc.mu.Unlock()
		return nil, fmt.Errorf("memlock: lock %q: %w", resource, dlm.ErrSessionExpired)
	}
	svc.seq++
	q := &request{lease: lease, seq: svc.seq, want: mode, changed: make(chan struct{}), bast: o.Blocking, owner: s}
	r := svc.resource(resource)
	r.reqs = append(r.reqs, q)
	l := &Lock{s: s, svc: svc, res: resource, req: q}
	if (try || o.NoQueue) && !slices.Contains(r.grantPass(), q) {
		r.reqs = r.reqs[:len(r.reqs)-1]
		svc.gc(resource, r)
		svc.mu.Unlock()
		return nil, fmt.Errorf("memlock: trylock %q in %v: %w", resource, mode, dlm.ErrWouldBlock)
	}
	ns := svc.settle(r)
	svc.mu.Unlock()
	deliver(ns)
	err = l.wait(ctx, "lock", func() (bool, error) { return q.granted, nil })
	if err != nil {
		svc.mu.Lock()
		ns := svc.remove(resource, q)
		svc.mu.Unlock()
		deliver(ns)
		return nil, err
	}
	return l, nil
}

// wait blocks until done says the request's wait is over, or ctx, the session or this client's
// calls end it. done runs under svc.mu; on success the grant is recorded.
func (l *Lock) wait(ctx context.Context, op string, done func() (bool, error)) error {
	svc := l.svc
	for {
		svc.mu.Lock()
		var ok bool
		var err error
		switch {
		case l.req.gone:
			err = l.lostErr(op)
		default:
			if ok, err = done(); ok {
				l.granted()
			}
		}
		switch {
		case ok || err != nil:
		case svc.down(l.s.eng):
			err = fmt.Errorf("memlock: %s %q: %w (injected)", op, l.res, dlm.ErrNoQuorum)
		}
		ch, fch := l.req.changed, svc.faultCh
		svc.mu.Unlock()
		if ok || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-fch:
		case <-ctx.Done():
			return fmt.Errorf("memlock: %s %q: %w", op, l.res, ctx.Err())
		case <-l.s.done:
			return l.lostErr(op)
		}
	}
}

// lostErr explains why the lock's request is gone.
func (l *Lock) lostErr(op string) error {
	if err := l.s.alive(op, l.res); err != nil {
		return err
	}
	return fmt.Errorf("memlock: %s %q: %w (the session's lease ended)", op, l.res, dlm.ErrSessionExpired)
}

// remove takes a request out of its resource and grants what that unblocks. svc.mu must be held.
func (svc *Service) remove(resource string, q *request) []notice {
	r := svc.res[resource]
	if r == nil || q.gone {
		return nil
	}
	q.gone = true
	q.signal()
	r.reqs = slices.DeleteFunc(r.reqs, func(o *request) bool { return o == q })
	ns := svc.settle(r)
	svc.gc(resource, r)
	return ns
}

// Convert changes the lock's mode (see dlm.Lock). A granted conversion gets a new token.
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
	cur, held, tok, lvb := l.mode, l.held, l.token, l.lvb
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("memlock: convert %q: %w", l.res, dlm.ErrNotHeld)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlock: convert %q: %w", l.res, err)
	}
	svc := l.svc
	svc.mu.Lock()
	if err := svc.call(l.s.eng, "convert", l.res); err != nil {
		svc.mu.Unlock()
		return err
	}
	q, r := l.req, svc.res[l.res]
	if q.gone {
		svc.mu.Unlock()
		return l.lostErr("convert")
	}
	if mode == cur {
		q.basted = false // a no-op conversion re-arms notices, as in the DLM
		svc.mu.Unlock()
		return nil
	}
	if dlm.Covers(cur, mode) {
		ns := l.convertDown(q, r, cur, mode, o.LVB, lvb)
		svc.mu.Unlock()
		deliver(ns)
		return nil
	}
	svc.seq++
	q.conv, q.convTo, q.convSeq, q.victim = true, mode, svc.seq, false
	if o.NoQueue && !slices.Contains(r.grantPass(), q) {
		q.conv = false
		svc.mu.Unlock()
		return fmt.Errorf("memlock: convert %q %v to %v: %w", l.res, cur, mode, dlm.ErrWouldBlock)
	}
	ns := svc.settle(r)
	svc.mu.Unlock()
	deliver(ns)
	return l.waitConverted(ctx, q, r, cur, mode, tok)
}

// convertDown grants a conversion to a mode cur covers at once, with the value block written
// from PW or EX. It runs with the service's mutex held and returns the notices to deliver.
func (l *Lock) convertDown(q *request, r *resource, cur, mode dlm.Mode, newLVB, lvb []byte) []notice {
	svc := l.svc
	if newLVB != nil && cur.WritesLVB() {
		r.lvb = slices.Clone(newLVB)
	}
	svc.rev++
	q.mode, q.token, q.basted = mode, dlm.Token(svc.rev), false
	if newLVB != nil && cur.WritesLVB() {
		q.lvb = slices.Clone(newLVB)
	} else {
		q.lvb = cloneLVB(lvb)
	}
	l.granted()
	return svc.settle(r)
}

// waitConverted waits for a queued up-conversion (from token tok) to be granted, or for ctx,
// the session or a deadlock to end it; then it leaves the convert queue, unless the conversion
// was granted meanwhile, which is reported instead of the error.
func (l *Lock) waitConverted(ctx context.Context, q *request, r *resource, cur, mode dlm.Mode, tok dlm.Token) error {
	svc := l.svc
	err := l.wait(ctx, "convert", func() (bool, error) {
		switch {
		case q.granted && !q.conv && q.token > tok:
			return true, nil
		case q.victim:
			q.victim = false
			return false, fmt.Errorf("memlock: convert %q %v to %v: %w", l.res, cur, mode, dlm.ErrDeadlock)
		}
		return false, nil
	})
	if err == nil {
		return nil
	}
	svc.mu.Lock()
	var ns []notice
	defer func() { svc.mu.Unlock(); deliver(ns) }()
	if !q.gone && q.granted && !q.conv && q.token > tok {
		l.granted()
		return nil
	}
	if q.conv {
		q.conv = false
		ns = svc.settle(r)
	}
	return err
}

// Unlock releases the lock and grants the waiters it unblocks. WithLVB writes the value block if
// the lock is held in PW or EX. After a failed Unlock the lock is still held.
func (l *Lock) Unlock(ctx context.Context, opts ...dlm.LockOption) error {
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	cur, held := l.mode, l.held
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("memlock: unlock %q: %w", l.res, dlm.ErrNotHeld)
	}
	if err := l.s.alive("unlock", l.res); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlock: unlock %q: %w", l.res, err)
	}
	svc := l.svc
	svc.mu.Lock()
	if err := svc.call(l.s.eng, "unlock", l.res); err != nil {
		svc.mu.Unlock()
		return err
	}
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	if l.req.gone {
		svc.mu.Unlock()
		return l.lostErr("unlock")
	}
	if o.LVB != nil && cur.WritesLVB() {
		svc.resource(l.res).lvb = slices.Clone(o.LVB)
	}
	ns := svc.remove(l.res, l.req)
	svc.mu.Unlock()
	deliver(ns)
	return nil
}

// Adopt returns the lock this session holds on resource, granted to another client of the same
// session before (see Engine.Resume), or dlm.ErrNotHeld. A lock with a conversion pending is not
// adopted, as in etcdlock.
func (s *Session) Adopt(ctx context.Context, resource string) (dlm.Lock, error) {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return nil, err
	}
	if err := s.alive("adopt", resource); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlock: adopt %q: %w", resource, err)
	}
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	if err := s.svc.call(s.eng, "adopt", resource); err != nil {
		return nil, err
	}
	if r := s.svc.res[resource]; r != nil {
		for _, q := range r.reqs {
			if q.lease.id == s.id && q.granted && !q.conv {
				q.owner, q.bast = s, nil
				l := &Lock{s: s, svc: s.svc, res: resource, req: q}
				l.granted()
				return l, nil
			}
		}
	}
	return nil, fmt.Errorf("memlock: adopt %q: %w", resource, dlm.ErrNotHeld)
}
