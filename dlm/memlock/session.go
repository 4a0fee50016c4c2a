package memlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/dlm"
)

// Engine is one client of a Service (one node's process). It is safe for concurrent use.
type Engine struct {
	svc    *Service
	faults faults // guarded by svc.mu
}

// Every capability of dlm/session.go.
var (
	_ dlm.Engine       = (*Engine)(nil)
	_ dlm.Resumer      = (*Engine)(nil)
	_ dlm.Inspector    = (*Engine)(nil)
	_ dlm.Session      = (*Session)(nil)
	_ dlm.Identified   = (*Session)(nil)
	_ dlm.Adopter      = (*Session)(nil)
	_ dlm.Deadliner    = (*Session)(nil)
	_ dlm.Inspector    = (*Session)(nil)
	_ dlm.StoreSession = (*Session)(nil)
)

// New returns a client of a new service of its own: for tests with one node.
func New() *Engine { return NewService().Engine() }

// Service is the service this client talks to.
func (e *Engine) Service() *Service { return e.svc }

// Fail makes every call of this client fail with dlm.ErrNoQuorum until Heal, renewals included:
// a node cut off from the cluster. Its waiting requests are withdrawn and its watches end; the
// service expires its sessions when their TTL runs out, as the majority side of etcd would.
func (e *Engine) Fail() {
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	e.faults.down = true
	e.svc.faultBegins()
}

// Heal ends Fail and FailCalls for this client.
func (e *Engine) Heal() {
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	e.faults = faults{}
}

// FailCalls makes the next n calls of this client fail with dlm.ErrNoQuorum, leaving nothing
// behind (renewals are not counted).
func (e *Engine) FailCalls(n int) {
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	e.faults.n = n
}

// Session is a session of the service kept alive by this client. It is safe for concurrent use.
type Session struct {
	eng *Engine
	svc *Service
	id  dlm.SessionID
	ttl time.Duration

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	ended   sync.Once
	wg      sync.WaitGroup
	paused  atomic.Bool
	closed  atomic.Bool
	expired atomic.Bool

	dlMu     sync.Mutex
	deadline time.Time // monotonic: send time of the last confirmed renewal + TTL

	nMu     sync.Mutex
	queue   []notice // blocking notices to run, in order
	running bool
}

// NewSession opens a session; ctx bounds nothing (the service answers at once).
func (e *Engine) NewSession(ctx context.Context, opts ...dlm.SessionOption) (dlm.Session, error) {
	return e.Open(ctx, opts...)
}

// Open is NewSession returning the concrete type.
func (e *Engine) Open(ctx context.Context, opts ...dlm.SessionOption) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlock: open session: %w", err)
	}
	o := dlm.ApplySessionOptions(opts...)
	t0 := time.Now()
	e.svc.mu.Lock()
	if err := e.svc.call(e, "open", "session"); err != nil {
		e.svc.mu.Unlock()
		return nil, err
	}
	l := e.svc.grant(o.TTL)
	s := e.attach(l, t0)
	e.svc.mu.Unlock()
	s.start()
	return s, nil
}

// Resume continues session id, which another process of this node opened (see Session.Orphan):
// it fails with dlm.ErrSessionExpired only when the service no longer has it, and with
// dlm.ErrNoQuorum while calls fail.
func (e *Engine) Resume(ctx context.Context, id dlm.SessionID) (dlm.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlock: resume session %x: %w", int64(id), err)
	}
	t0 := time.Now()
	e.svc.mu.Lock()
	if err := e.svc.call(e, "resume session", fmt.Sprintf("%x", int64(id))); err != nil {
		e.svc.mu.Unlock()
		return nil, err
	}
	l := e.svc.leases[id]
	if l == nil {
		e.svc.mu.Unlock()
		return nil, fmt.Errorf("memlock: resume session %x: %w", int64(id), dlm.ErrSessionExpired)
	}
	l.expires = t0.Add(l.ttl)
	l.timer.Reset(l.ttl)
	s := e.attach(l, t0)
	e.svc.mu.Unlock()
	s.start()
	return s, nil
}

// attach makes a client session for lease l, renewed as sent at t0. svc.mu must be held.
func (e *Engine) attach(l *lease, t0 time.Time) *Session {
	s := &Session{eng: e, svc: e.svc, id: l.id, ttl: l.ttl, done: make(chan struct{}), deadline: t0.Add(l.ttl)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	l.clients[s] = true
	return s
}

func (s *Session) start() {
	s.wg.Add(1)
	go s.keepAlive()
}

// keepAlive renews the lease every TTL/RenewDivisor (a failure is retried after
// TTL/RetryDivisor) and ends the session TTL/DoneDivisor before the deadline, which counts from
// the send time of the last renewal the service confirmed.
func (s *Session) keepAlive() {
	defer s.wg.Done()
	defer s.end()
	next := time.Now().Add(s.ttl / RenewDivisor)
	for {
		doneAt := s.Deadline().Add(-s.ttl / DoneDivisor)
		wake := next
		if doneAt.Before(wake) {
			wake = doneAt
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !time.Now().Before(doneAt) {
			s.expired.Store(true)
			return
		}
		if s.paused.Load() {
			next = time.Now().Add(s.ttl / RetryDivisor)
			continue
		}
		t0 := time.Now()
		ttl, err := s.svc.renew(s.eng, s.id)
		switch {
		case err == nil:
			s.dlMu.Lock()
			s.deadline = t0.Add(ttl)
			s.dlMu.Unlock()
			next = t0.Add(s.ttl / RenewDivisor)
		case errors.Is(err, dlm.ErrSessionExpired):
			s.expired.Store(true)
			return
		default:
			next = time.Now().Add(s.ttl / RetryDivisor)
		}
	}
}

// end closes Done (after cancelling Ctx); it takes no lock of the service.
func (s *Session) end() {
	s.ended.Do(func() {
		s.cancel()
		close(s.done)
	})
}

// expire ends the session because its lease is gone. svc.mu is held.
func (s *Session) expire() {
	if !s.closed.Load() {
		s.expired.Store(true)
	}
	s.end()
}

// ID is the session's ID for Resume.
func (s *Session) ID() dlm.SessionID { return s.id }

// TTL is the session's TTL.
func (s *Session) TTL() time.Duration { return s.ttl }

// Deadline is the earliest time the service may expire the session: the send time of the last
// renewal it confirmed plus the TTL, with its monotonic clock reading.
func (s *Session) Deadline() time.Time {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	return s.deadline
}

// Done is closed when the session ends: TTL/5 before the service can expire it without renewal,
// when the service expired it, or when it was orphaned or closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Ctx is cancelled when the session ends.
func (s *Session) Ctx() context.Context { return s.ctx }

// StopRenewing makes the session stop renewing, as a paused or hung process: Done closes TTL/5
// before the deadline, and the service expires the session at the deadline.
func (s *Session) StopRenewing() { s.paused.Store(true) }

// Expire ends the session now, as its lease's expiry (Service.Expire): Done closes first, then
// its locks and keys go.
func (s *Session) Expire() { s.svc.Expire(s.id) }

// Orphan stops renewing without releasing anything, as a process killed with kill -9: the
// locks stay until the service expires the session or another client resumes it.
func (s *Session) Orphan() {
	s.end()
	s.wg.Wait()
}

// Close ends the session and releases every lock and key of it at once. While calls fail the
// release fails too (dlm.ErrNoQuorum): the session then goes when its TTL runs out.
func (s *Session) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.Orphan()
	s.svc.mu.Lock()
	l := s.svc.leases[s.id]
	var ns []notice
	var err error
	switch {
	case l == nil:
	case s.svc.down(s.eng):
		err = fmt.Errorf("memlock: close session %x: %w (injected)", int64(s.id), dlm.ErrNoQuorum)
	default:
		ns = s.svc.drop(l)
	}
	s.svc.mu.Unlock()
	deliver(ns)
	return err
}

// alive returns the error to give when the session has ended.
func (s *Session) alive(op, what string) error {
	select {
	case <-s.done:
	default:
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("memlock: %s %q: %w", op, what, dlm.ErrClosed)
	}
	return fmt.Errorf("memlock: %s %q: %w", op, what, dlm.ErrSessionExpired)
}

// notify queues a blocking notice; the notices of a session run in order, on a goroutine of
// their own, and stop when the session ends.
func (s *Session) notify(fn func(dlm.Mode), m dlm.Mode) {
	s.nMu.Lock()
	defer s.nMu.Unlock()
	s.queue = append(s.queue, notice{fn: fn, mode: m})
	if !s.running {
		s.running = true
		go s.runNotices()
	}
}

func (s *Session) runNotices() {
	for {
		s.nMu.Lock()
		if len(s.queue) == 0 || s.ctx.Err() != nil {
			s.queue, s.running = nil, false
			s.nMu.Unlock()
			return
		}
		n := s.queue[0]
		s.queue = s.queue[1:]
		s.nMu.Unlock()
		n.fn(n.mode)
	}
}

// CheckToken returns nil if token is the token of a grant on resource still in force.
func (s *Session) CheckToken(ctx context.Context, resource string, token dlm.Token) error {
	return s.eng.CheckToken(ctx, resource, token)
}

// CheckToken returns nil if token is the token of a grant on resource still in force,
// dlm.ErrStaleToken if not.
func (e *Engine) CheckToken(ctx context.Context, resource string, token dlm.Token) error {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlock: check token on %q: %w", resource, err)
	}
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	if err := e.svc.call(e, "check token", resource); err != nil {
		return err
	}
	if r := e.svc.res[resource]; r != nil {
		for _, q := range r.reqs {
			if q.granted && q.token == token {
				return nil
			}
		}
	}
	return fmt.Errorf("memlock: check token %d on %q: %w", token, resource, dlm.ErrStaleToken)
}

// Inspect reads a resource without taking a lock or queueing: the granted locks by token, how
// many requests wait (new requests and pending conversions) and the value block.
func (e *Engine) Inspect(ctx context.Context, resource string) (dlm.ResourceInfo, error) {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return dlm.ResourceInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return dlm.ResourceInfo{}, fmt.Errorf("memlock: inspect %q: %w", resource, err)
	}
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	if err := e.svc.call(e, "inspect", resource); err != nil {
		return dlm.ResourceInfo{}, err
	}
	return e.svc.inspect(resource), nil
}

// Inspect is Engine.Inspect.
func (s *Session) Inspect(ctx context.Context, resource string) (dlm.ResourceInfo, error) {
	return s.eng.Inspect(ctx, resource)
}
