package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// Session is an etcd lease kept alive by this process; its locks last as
// long as the lease. It is safe for concurrent use.
type Session struct {
	eng   *Engine
	cli   *clientv3.Client
	lease clientv3.LeaseID
	ttl   time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ended  sync.Once
	wg     sync.WaitGroup

	bgMu    sync.Mutex
	bg      sync.WaitGroup // background clean-ups, ended with the session
	bgDone  bool
	slotMu  sync.Mutex
	slots   map[string]map[uint64]bool // resource -> lock ids in use
	paused  atomic.Bool                // test hook: stop renewing, as a stalled process would
	closed  atomic.Bool
	expired atomic.Bool
	// expiry is the earliest time etcd may expire the lease (Deadline), with its monotonic
	// clock reading: a round trip through UnixNano would let a wall clock step move it.
	expiry atomic.Pointer[time.Time]
}

// The optional capabilities of dlm/session.go: all of them.
var (
	_ dlm.Session      = (*Session)(nil)
	_ dlm.Identified   = (*Session)(nil)
	_ dlm.Adopter      = (*Session)(nil)
	_ dlm.Deadliner    = (*Session)(nil)
	_ dlm.Inspector    = (*Session)(nil)
	_ dlm.StoreSession = (*Session)(nil)
	_ dlm.Resumer      = (*Engine)(nil)
	_ dlm.Inspector    = (*Engine)(nil)
)

// NewSession grants a lease and starts renewing it. ctx bounds the grant
// only. The session's TTL is rounded up to whole seconds (and to etcd's
// minimum lease TTL).
func (e *Engine) NewSession(ctx context.Context, opts ...dlm.SessionOption) (dlm.Session, error) {
	return e.Open(ctx, opts...)
}

// Open is NewSession returning the concrete type.
func (e *Engine) Open(ctx context.Context, opts ...dlm.SessionOption) (*Session, error) {
	o := dlm.ApplySessionOptions(opts...)
	secs := int64((o.TTL + time.Second - 1) / time.Second)
	t0 := time.Now()
	resp, err := e.cli.Grant(clientv3.WithRequireLeader(ctx), secs)
	if err != nil {
		return nil, wrapErr("grant lease", "", err)
	}
	ttl := time.Duration(resp.TTL) * time.Second
	s := &Session{eng: e, cli: e.cli, lease: resp.ID, ttl: ttl, done: make(chan struct{})}
	s.setExpiry(t0.Add(ttl))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.keepAlive(t0.Add(ttl - s.margin()))
	return s, nil
}

// margin is how much earlier than etcd could expire the lease the session
// declares itself done: it covers scheduling delays on a loaded host and
// clock rate differences, so Done closes before any other client can be
// granted this session's locks.
func (s *Session) margin() time.Duration { return s.ttl / DoneDivisor }

// The session's timing, as fractions of its TTL (dlm's, re-exported).
const (
	RenewDivisor = dlm.RenewDivisor
	RetryDivisor = dlm.RetryDivisor
	DoneDivisor  = dlm.DoneDivisor
)

// keepAlive renews the lease every TTL/RenewDivisor. The local deadline is computed
// from the time each renewal was *sent*: etcd's expiry is at least TTL after
// it received the renewal, so the local deadline always comes first.
func (s *Session) keepAlive(deadline time.Time) {
	defer s.wg.Done()
	defer s.end()
	next := time.Now().Add(s.ttl / RenewDivisor)
	for {
		wake := next
		if deadline.Before(wake) {
			wake = deadline
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			s.expired.Store(true)
			return
		}
		if s.paused.Load() {
			next = time.Now().Add(s.ttl / RetryDivisor)
			continue
		}
		t0 := time.Now()
		rctx, cancel := context.WithDeadline(s.ctx, deadline)
		resp, err := s.cli.KeepAliveOnce(clientv3.WithRequireLeader(rctx), s.lease)
		cancel()
		switch {
		case err == nil && resp.TTL > 0:
			deadline = t0.Add(time.Duration(resp.TTL)*time.Second - s.margin())
			s.setExpiry(t0.Add(time.Duration(resp.TTL) * time.Second))
			next = t0.Add(s.ttl / RenewDivisor)
		case errors.Is(err, rpctypes.ErrLeaseNotFound) || err == nil:
			s.expired.Store(true)
			return
		default:
			next = time.Now().Add(s.ttl / RetryDivisor) // retry sooner
		}
	}
}

func (s *Session) setExpiry(t time.Time) { s.expiry.Store(&t) }

// end marks the session done: Ctx is cancelled, then Done closes.
func (s *Session) end() {
	s.ended.Do(func() {
		s.cancel()
		close(s.done)
	})
}

// Lease is the etcd lease ID of the session.
func (s *Session) Lease() clientv3.LeaseID { return s.lease }

// ID is the session's ID for Engine.Resume: its etcd lease ID.
func (s *Session) ID() dlm.SessionID { return dlm.SessionID(s.lease) }

// TTL is the lease TTL granted by etcd.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session ends: its lease could not be renewed in
// time (closed up to TTL/5 before etcd can expire it), or it was orphaned or
// closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Ctx is cancelled when the session ends.
func (s *Session) Ctx() context.Context { return s.ctx }

// Orphan stops renewing the lease without revoking it: the locks stay until
// etcd expires the lease. For a process whose connection state is unknown.
func (s *Session) Orphan() {
	s.end()
	s.wg.Wait()
	s.bgMu.Lock()
	s.bgDone = true
	s.bgMu.Unlock()
	s.bg.Wait()
}

// background runs fn in a goroutine that Orphan and Close wait for; fn
// must return soon after the session's context is cancelled.
func (s *Session) background(fn func()) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgDone {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

// Close ends the session and revokes its lease, which releases all its
// locks at once. Revoke is given the TTL as timeout: after that the lease is
// expired anyway.
func (s *Session) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.Orphan()
	ctx, cancel := context.WithTimeout(context.Background(), s.ttl)
	defer cancel()
	if _, err := s.cli.Revoke(clientv3.WithRequireLeader(ctx), s.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return wrapErr("revoke lease", "", err)
	}
	return nil
}

// alive returns the error to give when the session has ended.
func (s *Session) alive(op, resource string) error {
	select {
	case <-s.done:
	default:
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("etcdlock: %s %q: %w", op, resource, dlm.ErrClosed)
	}
	return fmt.Errorf("etcdlock: %s %q: %w", op, resource, dlm.ErrSessionExpired)
}

// CheckToken is Engine.CheckToken.
func (s *Session) CheckToken(ctx context.Context, resource string, token dlm.Token) error {
	return s.eng.CheckToken(ctx, resource, token)
}

// takeID returns a lock id "<lease hex>.<n>" with the smallest n not in use
// by this session on resource. Ids are reused on purpose: etcd keeps every
// deleted key in its index until compaction, so a fresh key per lock would
// make every range over the resource slower with each lock ever taken.
func (s *Session) takeID(resource string) (string, uint64) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	if s.slots == nil {
		s.slots = map[string]map[uint64]bool{}
	}
	used := s.slots[resource]
	if used == nil {
		used = map[uint64]bool{}
		s.slots[resource] = used
	}
	n := uint64(0)
	for used[n] {
		n++
	}
	used[n] = true
	return fmt.Sprintf("%016x.%x", uint64(s.lease), n), n
}

// releaseID makes an id reusable once its keys are known to be deleted.
func (s *Session) releaseID(resource string, n uint64) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	delete(s.slots[resource], n)
	if len(s.slots[resource]) == 0 {
		delete(s.slots, resource)
	}
}
