// Package memlock is an in-memory lock service with the semantics of the etcd engine
// (mdcluster.dev/dlm/etcdlock): six modes, a FIFO queue with conversions first, conversion
// deadlocks broken by cancelling the latest conversion, NOQUEUE, lock value blocks, blocking
// notices, fencing tokens strictly increasing per resource, sessions with a TTL on the monotonic
// clock renewed on etcdlock's schedule, and every optional capability of dlm/session.go
// (resume, adopt, deadline, inspect, a session-bound store with revisions and watches). It
// passes the conformance suite (dlm/dlmtest) as etcdlock does.
//
// It exists for the agent's decision tests, which must drive a lock service into the states
// that matter — a session that stops renewing (a paused process), a session that expires now,
// calls that fail with dlm.ErrNoQuorum until healed or for the next N calls — and read who holds
// what, in milliseconds and without an etcd. It is not for production: nothing outlives the
// process, so it cannot keep two servers apart.
package memlock

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/dlm"
)

// The session timing, as fractions of the TTL: the same as etcdlock's (a test checks it), so the
// agent's fencing arithmetic holds against this engine too.
const (
	RenewDivisor = dlm.RenewDivisor // the lease is renewed every TTL/RenewDivisor
	RetryDivisor = dlm.RetryDivisor // a failed renewal is retried after TTL/RetryDivisor
	DoneDivisor  = dlm.DoneDivisor  // Done closes TTL/DoneDivisor before the service can expire the lease
)

// Service is one lock service: the state every client (Engine) shares. It is safe for concurrent
// use. Its zero value is not usable: call NewService.
type Service struct {
	mu      sync.Mutex
	rev     int64 // bumped by every grant and every key change: tokens and store revisions
	seq     uint64
	nextID  dlm.SessionID
	leases  map[dlm.SessionID]*lease
	res     map[string]*resource
	kv      map[string]kvEntry
	hist    []change      // every key change, in revision order (never compacted)
	histCh  chan struct{} // closed and replaced when hist grows
	faultCh chan struct{} // closed and replaced when a failure begins
	faults  faults
}

// lease is a session as the service sees it.
type lease struct {
	id      dlm.SessionID
	ttl     time.Duration
	expires time.Time // monotonic: last renewal received + TTL
	timer   *time.Timer
	clients map[*Session]bool // the client sessions that speak for it, ended before it goes
}

// NewService returns an empty lock service.
func NewService() *Service {
	return &Service{
		nextID:  0x1000,
		leases:  map[dlm.SessionID]*lease{},
		res:     map[string]*resource{},
		kv:      map[string]kvEntry{},
		histCh:  make(chan struct{}),
		faultCh: make(chan struct{}),
	}
}

// Engine returns a new client of the service (one node's process).
func (svc *Service) Engine() *Engine { return &Engine{svc: svc} }

// faults is a failure mode: down until healed, or the next n calls.
type faults struct {
	down bool
	n    int
}

// take reports whether a call fails, consuming one of the next n failures.
func (f *faults) take() bool {
	if f.down {
		return true
	}
	if f.n > 0 {
		f.n--
		return true
	}
	return false
}

// Fail makes every call of every client fail with dlm.ErrNoQuorum until Heal, as an etcd cluster
// without a leader: renewals fail too (each session's Done closes at its deadline), waiting
// requests are withdrawn and watches end. As in etcd, no lease expires meanwhile, and Heal gives
// every lease a full TTL again (a new leader's refresh).
func (svc *Service) Fail() {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.faults.down = true
	svc.faultBegins()
}

// Heal ends Fail and FailCalls.
func (svc *Service) Heal() {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.faults.down {
		now := time.Now()
		for _, l := range svc.leases {
			l.expires = now.Add(l.ttl)
			l.timer.Reset(l.ttl)
		}
	}
	svc.faults = faults{}
}

// FailCalls makes the next n calls (of any client) fail with dlm.ErrNoQuorum, leaving nothing
// behind. Renewals are not counted: they run on their own schedule.
func (svc *Service) FailCalls(n int) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.faults.n = n
}

// faultBegins wakes the waiters and watches that a failure must end. svc.mu must be held.
func (svc *Service) faultBegins() {
	close(svc.faultCh)
	svc.faultCh = make(chan struct{})
}

// Expire ends session id now, as a lease expiry: the Done of every client session speaking for
// it closes first, then its locks go (waiters are granted) and its keys are deleted, in one
// revision. It reports whether the session existed.
func (svc *Service) Expire(id dlm.SessionID) bool {
	svc.mu.Lock()
	l := svc.leases[id]
	var ns []notice
	if l != nil {
		ns = svc.drop(l)
	}
	svc.mu.Unlock()
	deliver(ns)
	return l != nil
}

// Holders returns the granted locks on resource, by token: what the service knows, read without
// any failure mode, for tests.
func (svc *Service) Holders(resource string) []dlm.Holder {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.inspect(resource).Granted
}

// Sessions returns the IDs of the sessions the service has, in order.
func (svc *Service) Sessions() []dlm.SessionID {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	var ids []dlm.SessionID
	for id := range svc.leases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// grant registers a new lease. svc.mu must be held.
func (svc *Service) grant(ttl time.Duration) *lease {
	svc.nextID++
	l := &lease{id: svc.nextID, ttl: ttl, expires: time.Now().Add(ttl), clients: map[*Session]bool{}}
	l.timer = time.AfterFunc(ttl, func() { svc.expireIfDue(l) })
	svc.leases[l.id] = l
	return l
}

// expireIfDue is the lease timer: it drops the lease if no renewal came in time. While the whole
// service is down no lease expires (Heal refreshes them all).
func (svc *Service) expireIfDue(l *lease) {
	svc.mu.Lock()
	if svc.leases[l.id] != l {
		svc.mu.Unlock()
		return
	}
	if left := time.Until(l.expires); left > 0 || svc.faults.down {
		l.timer.Reset(max(left, l.ttl/RetryDivisor))
		svc.mu.Unlock()
		return
	}
	ns := svc.drop(l)
	svc.mu.Unlock()
	deliver(ns)
}

// drop ends a lease: its client sessions first, then its requests and keys. svc.mu must be held;
// the notices returned are delivered after it is released.
func (svc *Service) drop(l *lease) []notice {
	delete(svc.leases, l.id)
	l.timer.Stop()
	for c := range l.clients {
		c.expire()
	}
	var ns []notice
	for name, r := range svc.res {
		before := len(r.reqs)
		r.reqs = slices.DeleteFunc(r.reqs, func(q *request) bool {
			if q.lease != l {
				return false
			}
			q.gone = true
			q.signal()
			return true
		})
		if len(r.reqs) != before {
			ns = append(ns, svc.settle(r)...)
		}
		svc.gc(name, r)
	}
	var keys []string
	for k, e := range svc.kv {
		if e.lease == l.id {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		svc.rev++
		for _, k := range keys {
			delete(svc.kv, k)
			svc.hist = append(svc.hist, change{rev: svc.rev, key: k, deleted: true})
		}
		svc.histChanged()
	}
	return ns
}

// renew is a keep-alive from a client: it fails while the client or the service is down, and
// with ErrSessionExpired once the lease is gone.
func (svc *Service) renew(e *Engine, id dlm.SessionID) (time.Duration, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.faults.down || e.faults.down {
		return 0, fmt.Errorf("memlock: renew session %x: %w", int64(id), dlm.ErrNoQuorum)
	}
	l := svc.leases[id]
	if l == nil {
		return 0, fmt.Errorf("memlock: renew session %x: %w", int64(id), dlm.ErrSessionExpired)
	}
	l.expires = time.Now().Add(l.ttl)
	l.timer.Reset(l.ttl)
	return l.ttl, nil
}

// call is the entry of every client call into the service: it fails while the client or the
// service fails. svc.mu must be held.
func (svc *Service) call(e *Engine, op, what string) error {
	if svc.faults.take() || e.faults.take() {
		return fmt.Errorf("memlock: %s %q: %w (injected)", op, what, dlm.ErrNoQuorum)
	}
	return nil
}

// down reports whether calls of client e fail until healed. svc.mu must be held.
func (svc *Service) down(e *Engine) bool { return svc.faults.down || e.faults.down }

// gc forgets a resource with no request and no value block. svc.mu must be held.
func (svc *Service) gc(name string, r *resource) {
	if len(r.reqs) == 0 && r.lvb == nil {
		delete(svc.res, name)
	}
}

// inspect reads a resource. svc.mu must be held.
func (svc *Service) inspect(resource string) dlm.ResourceInfo {
	var info dlm.ResourceInfo
	r := svc.res[resource]
	if r == nil {
		return info
	}
	info.LVB = slices.Clone(r.lvb)
	for _, q := range r.reqs {
		if q.granted {
			info.Granted = append(info.Granted, dlm.Holder{Session: q.lease.id, Mode: q.mode, Token: q.token})
		}
		if !q.granted || q.conv {
			info.Waiting++
		}
	}
	slices.SortFunc(info.Granted, func(a, b dlm.Holder) int { return cmp.Compare(a.Token, b.Token) })
	return info
}

// String describes the service's state, for test failures.
func (svc *Service) String() string {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "memlock rev %d, %d sessions", svc.rev, len(svc.leases))
	names := make([]string, 0, len(svc.res))
	for n := range svc.res {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "; %s: %+v", n, svc.inspect(n))
	}
	return b.String()
}
