package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// Resume continues a session whose lease is still alive, such as the session of an agent that
// was killed (kill -9) and restarted within its TTL: the locks granted under the lease are
// still in force, and Adopt hands them to the new process. It fails with dlm.ErrSessionExpired
// only when etcd says the lease is gone; any other error (no quorum, no answer in time, a
// closed client) leaves the lease as it was: retry, never open a new session in its place.
func (e *Engine) Resume(ctx context.Context, id dlm.SessionID) (dlm.Session, error) {
	s, err := e.ResumeLease(ctx, clientv3.LeaseID(id))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ResumeLease is Resume with the concrete types.
func (e *Engine) ResumeLease(ctx context.Context, lease clientv3.LeaseID) (*Session, error) {
	ttlResp, err := e.cli.TimeToLive(clientv3.WithRequireLeader(ctx), lease)
	if err != nil {
		return nil, wrapErr("resume lease", fmt.Sprintf("%x", int64(lease)), err)
	}
	if ttlResp.TTL < 0 {
		// etcd answers -1 for a lease it does not have. A lease about to expire answers 0
		// (whole seconds, rounded down): the renewal below settles it.
		return nil, fmt.Errorf("etcdlock: resume lease %x: %w", int64(lease), dlm.ErrSessionExpired)
	}
	t0 := time.Now()
	resp, err := e.cli.KeepAliveOnce(clientv3.WithRequireLeader(ctx), lease)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && resp.TTL <= 0) {
		return nil, fmt.Errorf("etcdlock: resume lease %x: %w", int64(lease), dlm.ErrSessionExpired)
	}
	if err != nil {
		return nil, wrapErr("resume lease", fmt.Sprintf("%x", int64(lease)), err)
	}
	ttl := time.Duration(ttlResp.GrantedTTL) * time.Second
	s := &Session{eng: e, cli: e.cli, lease: lease, ttl: ttl, done: make(chan struct{})}
	s.setExpiry(t0.Add(time.Duration(resp.TTL) * time.Second))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.keepAlive(t0.Add(time.Duration(resp.TTL)*time.Second - s.margin()))
	return s, nil
}

// Adopt returns the lock this session holds on resource, granted before the process restarted
// (see Resume), or dlm.ErrNotHeld when the session holds none there.
func (s *Session) Adopt(ctx context.Context, resource string) (dlm.Lock, error) {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return nil, err
	}
	if err := s.alive("adopt", resource); err != nil {
		return nil, err
	}
	l := &Lock{s: s, res: resource, dir: s.eng.dir(resource), changed: make(chan struct{})}
	resp, err := s.cli.Get(clientv3.WithRequireLeader(ctx), l.dir, clientv3.WithPrefix())
	if err != nil {
		return nil, wrapErr("adopt", resource, err)
	}
	l.setView(resp.Kvs, resp.Header.Revision)
	for id, e := range l.v.entries {
		if e.lease != int64(s.lease) || !e.hasG || e.hasC {
			continue
		}
		n, err := strconv.ParseUint(id[strings.LastIndexByte(id, '.')+1:], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("etcdlock: adopt %q: malformed lock id %q", resource, id)
		}
		s.useID(resource, n)
		l.id, l.slot = id, n
		l.granted(e.gMod, e.gTok, l.v.lvb)
		return l, nil
	}
	return nil, fmt.Errorf("etcdlock: adopt %q: %w", resource, dlm.ErrNotHeld)
}

// useID marks a lock id of an adopted lock as in use.
func (s *Session) useID(resource string, n uint64) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	if s.slots == nil {
		s.slots = map[string]map[uint64]bool{}
	}
	if s.slots[resource] == nil {
		s.slots[resource] = map[uint64]bool{}
	}
	s.slots[resource][n] = true
}

// Deadline is the earliest time etcd may expire the session's lease, from the last renewal
// etcd confirmed: a holder that must stop acting before others can take its locks (self-fencing)
// plans against it. It carries a monotonic clock reading: compare it with time.Now() only.
func (s *Session) Deadline() time.Time { return *s.expiry.Load() }
