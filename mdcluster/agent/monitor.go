package agent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
)

var _ api.MonitorBackend = (*Agent)(nil)

// mdcadm --monitor delivers an event of a shared (md-cluster) array once across the cluster: the
// monitor of one node holds the array's delivery lease, monitor/<uuid>, through this agent for
// as long as its request stays open, and advances the array's delivery cursor — its view of the
// array as last delivered, kept in the cluster state bound to no session — after each delivery.
// When that node dies its session expires, a monitor queued on another node gets the lease with
// the cursor, and goes on from the state the last delivery left: nothing delivered twice, nothing
// lost in between.

func monitorResource(uuid string) string { return "monitor/" + uuid }

func (a *Agent) cursorKey(uuid string) string {
	return path.Join(a.cfg.LockEngine.Prefix, "state", "monitor", uuid)
}

// monitors are the delivery leases this agent holds for local monitors, by array UUID.
type monitors struct {
	mu    sync.Mutex
	locks map[string]dlm.Lock
}

func (m *monitors) set(uuid string, l dlm.Lock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]dlm.Lock{}
	}
	if l == nil {
		delete(m.locks, uuid)
	} else {
		m.locks[uuid] = l
	}
}

func (m *monitors) get(uuid string) dlm.Lock {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.locks[uuid]
}

// HoldMonitor queues for the array's delivery lease, hands its token and the cursor to the
// caller, and holds it until the caller goes away (then it goes back at once) or the session is
// lost (the caller is told, and must stop delivering).
func (a *Agent) HoldMonitor(ctx context.Context, r api.MonitorHoldRequest, granted func(api.MonitorGrant) error) error {
	st, err := a.rec.lookup(r.Array)
	if err != nil {
		return err
	}
	s := a.sm.current()
	if s == nil {
		return errors.New("this node has no session in the lock engine")
	}
	lg := sessionLog(s)
	if lg == nil {
		return errNoEventLog
	}
	sctx, cancel := s.ctx(ctx)
	defer cancel()
	l, err := s.Lock(sctx, monitorResource(st.cfg.UUID), dlm.EX)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the caller went away while it waited
		}
		return fmt.Errorf("take the monitor lease of %s: %w", st.cfg.Name, err)
	}
	defer func() {
		a.monitor.set(st.cfg.UUID, nil)
		if err := unlock(l); err != nil {
			a.log.Warn("give the monitor lease back", "array", st.cfg.Name, "err", err)
		}
	}()
	a.monitor.set(st.cfg.UUID, l)
	a.rec.event(api.EventLeaseGranted, st, "delivery of mdcadm --monitor events", "kind", "monitor", "token", fmt.Sprint(l.Token()))
	g := api.MonitorGrant{Token: uint64(l.Token())}
	cctx, ccancel := context.WithTimeout(sctx, opTimeout)
	kvs, _, err := s.Session.(dlm.StoreSession).Store().Get(cctx, a.cursorKey(st.cfg.UUID), 0)
	ccancel()
	if err != nil {
		return fmt.Errorf("read the delivery cursor of %s: %w", st.cfg.Name, err)
	}
	for _, kv := range kvs {
		if kv.Key == a.cursorKey(st.cfg.UUID) {
			g.Rev, g.Cursor = kv.ModRevision, kv.Value
		}
	}
	if err := granted(g); err != nil {
		return nil // the caller is gone
	}
	select {
	case <-ctx.Done(): // the caller went away: the lease goes back (deferred)
		return nil
	case <-sctx.Done():
		_ = granted(api.MonitorGrant{Token: g.Token, Lost: "this node's session in the lock engine was lost"})
		return nil
	}
}

// SaveCursor advances the array's delivery cursor for the monitor holding its lease with token:
// refused (409) when the token is not the lease in force or the cursor moved since rev.
func (a *Agent) SaveCursor(ctx context.Context, r api.CursorRequest) (api.CursorReply, error) {
	st, err := a.rec.lookup(r.Array)
	if err != nil {
		return api.CursorReply{}, err
	}
	l := a.monitor.get(st.cfg.UUID)
	if l == nil || uint64(l.Token()) != r.Token {
		return api.CursorReply{}, &api.ConflictError{Msg: fmt.Sprintf("token %d is not the monitor lease this node holds on %s", r.Token, st.cfg.Name)}
	}
	s := a.sm.current()
	if s == nil {
		return api.CursorReply{}, &api.ConflictError{Msg: "this node has no session in the lock engine"}
	}
	if err := checkToken(ctx, s, l); err != nil {
		if gone(err) {
			return api.CursorReply{}, &api.ConflictError{Msg: err.Error()}
		}
		return api.CursorReply{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, err := sessionLog(s).CompareAndSwap(cctx, a.cursorKey(st.cfg.UUID), r.Cursor, r.Rev)
	if errors.Is(err, dlm.ErrConflict) || gone(err) {
		return api.CursorReply{}, &api.ConflictError{Msg: err.Error()}
	}
	if err != nil {
		return api.CursorReply{}, err
	}
	return api.CursorReply{Rev: rev}, nil
}
