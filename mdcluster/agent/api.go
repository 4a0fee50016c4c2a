package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
)

var _ api.Backend = (*Agent)(nil)

// Acquire takes a lease for a local caller (mdcadm). Activation, resync and recovery leases are
// the loop's own: the handler records what the caller wants, asks for a pass and waits for its
// outcome. The request's context bounds only the wait: a caller that goes away does not
// interrupt an assembly. Other kinds (admin) are plain locks held for the caller.
func (a *Agent) Acquire(ctx context.Context, r api.AcquireRequest) (api.Grant, error) {
	st, err := a.rec.lookup(r.Array)
	if err != nil {
		return api.Grant{}, err
	}
	if a.sm.current() == nil {
		return api.Grant{}, errors.New("this node has no session in the lock engine")
	}
	switch r.Kind {
	case api.KindActivation:
		if st.cfg.Mode != config.ModeExclusive {
			return api.Grant{}, &api.BadRequest{Msg: fmt.Sprintf("kind: %s is a clustered array; activation leases are for exclusive arrays", st.cfg.Name)}
		}
		if a.fencing != "" {
			return api.Grant{}, fmt.Errorf("%s cannot run here: self-fencing unavailable: %s", st.cfg.Name, a.fencing)
		}
		st.setIntent(func(i *intent) { i.standby = false })
		v, err := a.pass(ctx, st)
		if err != nil {
			return api.Grant{}, err
		}
		if v.actHere {
			return api.Grant{Array: st.cfg.UUID, Kind: r.Kind, Token: uint64(v.actTok)}, nil
		}
		if v.holder != "" {
			return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: v.holder}
		}
		if v.problem != "" {
			return api.Grant{}, errors.New(v.problem)
		}
		return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: "(another node)"}
	case api.KindRecovery, api.KindResync:
		owner := r.Owner
		if owner == "" {
			owner = "a local caller"
		}
		st.setIntent(func(i *intent) { i.syncFor = owner })
		v, err := a.pass(ctx, st)
		if err != nil {
			return api.Grant{}, err
		}
		if v.syncHere {
			return api.Grant{Array: st.cfg.UUID, Kind: r.Kind, Token: uint64(v.syncTok)}, nil
		}
		st.setIntent(func(i *intent) { i.syncFor = "" })
		if v.problem != "" {
			return api.Grant{}, errors.New(v.problem)
		}
		return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: "another node (or every resync slot is busy)"}
	}
	return a.acquireCaller(ctx, st, r.Kind)
}

// pass asks for a pass over the array and waits until one that started after the request has
// ended, then returns the array's view.
func (a *Agent) pass(ctx context.Context, st *arrayState) (arrayView, error) {
	ticket := a.q.add(st.cfg.UUID)
	if err := a.q.wait(ctx, st.cfg.UUID, ticket); err != nil {
		return arrayView{}, err
	}
	return st.getView(), nil
}

// acquireCaller takes a plain lock for a caller, without waiting for holders.
func (a *Agent) acquireCaller(ctx context.Context, st *arrayState, kind string) (api.Grant, error) {
	s := a.sm.current()
	if s == nil {
		return api.Grant{}, errors.New("this node has no session in the lock engine")
	}
	res := kind + "/" + st.cfg.UUID
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l, err := s.TryLock(cctx, res, dlm.EX)
	if errors.Is(err, dlm.ErrWouldBlock) {
		return api.Grant{}, &api.HeldError{Kind: kind, Array: st.cfg.Name, Holder: "another node"}
	}
	if err != nil {
		return api.Grant{}, fmt.Errorf("take %s lease: %w", kind, err)
	}
	a.mu.Lock()
	if a.callers == nil {
		a.callers = map[string]dlm.Lock{}
	}
	old := a.callers[res]
	a.callers[res] = l
	a.mu.Unlock()
	if old != nil {
		_ = unlock(old)
	}
	a.rec.event(api.EventLeaseGranted, st, "for a local caller", "kind", kind, "token", fmt.Sprint(l.Token()))
	return api.Grant{Array: st.cfg.UUID, Kind: kind, Token: uint64(l.Token())}, nil
}

// Release gives back a lease taken with Acquire. Releasing the activation lease is a clean
// stop: the array stops here, then the lease goes to a waiting node; this node stands by
// until asked again. A sync lease goes back once md's sync ended.
func (a *Agent) Release(ctx context.Context, r api.ReleaseRequest) error {
	st, err := a.rec.lookup(r.Array)
	if err != nil {
		return err
	}
	switch r.Kind {
	case api.KindActivation:
		v := st.getView()
		if !v.actHere || uint64(v.actTok) != r.Token {
			return &api.BadRequest{Msg: "token: not the current activation lease"}
		}
		st.setIntent(func(i *intent) { i.standby = true })
		v, err := a.pass(ctx, st)
		if err != nil {
			return err
		}
		if v.actHere {
			return fmt.Errorf("the activation lease stays here: %s", v.problem)
		}
		return nil
	case api.KindRecovery, api.KindResync:
		if v := st.getView(); !v.syncHere || uint64(v.syncTok) != r.Token {
			return nil
		}
		st.setIntent(func(i *intent) { i.syncFor = "" })
		a.q.add(st.cfg.UUID)
		return nil
	}
	res := r.Kind + "/" + st.cfg.UUID
	a.mu.Lock()
	l := a.callers[res]
	if l == nil || uint64(l.Token()) != r.Token {
		a.mu.Unlock()
		return &api.BadRequest{Msg: "token: no such lease held for a caller"}
	}
	delete(a.callers, res)
	a.mu.Unlock()
	if err := unlock(l); err != nil {
		a.mu.Lock()
		a.callers[res] = l
		a.mu.Unlock()
		return err
	}
	a.rec.event(api.EventLeaseReleased, st, "by a local caller", "kind", r.Kind)
	return nil
}

// Status reports the node, the cluster's members and every managed array. It never waits for
// a pass; cluster-wide facts come from the lock service within a short timeout.
func (a *Agent) Status(ctx context.Context) (api.Status, error) {
	st := api.Status{Node: a.cfg.Node.Name, NodeID: a.cfg.Node.ID, Cluster: a.cfg.Cluster.Name,
		Engine: a.cfg.LockEngine.Type, DLMControl: a.cfg.DLMControl.Mode, Started: a.started, Observed: time.Now()}
	s := a.sm.current()
	t := time.Duration(a.sm.timeout.Load())
	st.Session = api.SessionInfo{Valid: s != nil, TTL: a.cfg.Leases.TTL.Duration, Resumed: s != nil && s.resumed,
		WatchdogTimeout: t, SilenceTolerated: fence.StoreSilence(a.cfg.Leases.TTL.Duration, a.cfg.Leases.WatchdogMargin.Duration, t)}
	var store dlm.Store
	if s != nil {
		if ss, ok := s.Session.(dlm.StoreSession); ok {
			store = ss.Store()
		}
	}
	members, err := a.members(ctx, store)
	if err != nil {
		return st, err
	}
	st.Members = members
	st.Resyncs = a.resyncs(ctx, store)
	st.Scrubs = a.scrubs(ctx, store)
	st.Actions = a.rec.Counters().Actions
	for _, as := range a.rec.states() {
		v := as.getView()
		st.Arrays = append(st.Arrays, as.status(a.cfg.Node.Name))
		switch {
		case v.actHere:
			st.Leases = append(st.Leases, api.Lease{Array: as.cfg.Name, Kind: api.KindActivation, Holder: a.cfg.Node.Name, Token: uint64(v.actTok)})
		case v.holder != "":
			st.Leases = append(st.Leases, api.Lease{Array: as.cfg.Name, Kind: api.KindActivation, Holder: v.holder})
		}
		if v.syncHere {
			st.Leases = append(st.Leases, api.Lease{Array: as.cfg.Name, Kind: api.KindResync, Holder: a.cfg.Node.Name, Token: uint64(v.syncTok)})
		}
	}
	// Another node's sync under its resync lease.
	for _, r := range st.Resyncs {
		if r.Node != a.cfg.Node.Name && r.Leased {
			st.Leases = append(st.Leases, api.Lease{Array: r.Array, Kind: api.KindResync, Holder: r.Node})
		}
	}
	return st, nil
}

// members lists the nodes with a live session.
func (a *Agent) members(ctx context.Context, store dlm.Store) ([]api.Member, error) {
	if store == nil {
		return []api.Member{{Name: a.cfg.Node.Name, ID: a.cfg.Node.ID}}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kvs, _, err := store.Get(cctx, a.key("members")+"/", 0)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	var out []api.Member
	for _, kv := range kvs {
		var m memberInfo
		if json.Unmarshal(kv.Value, &m) == nil {
			out = append(out, api.Member{Name: m.Name, ID: m.ID})
		}
	}
	return out, nil
}

// Counters returns a copy of the agent's running totals.
func (a *Agent) Counters() api.Counters {
	if a.rec == nil {
		return api.Counters{Actions: map[string]uint64{}, Events: map[string]uint64{}}
	}
	c := a.rec.Counters()
	c.Events, c.EventsDropped, c.EventsFailed = a.events.counters()
	return c
}
