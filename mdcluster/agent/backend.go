package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

var _ api.Backend = (*Agent)(nil)

// Status reports the node, the cluster's members and every managed array.
func (a *Agent) Status(ctx context.Context) (api.Status, error) {
	s := api.Status{Node: a.cfg.Node.Name, NodeID: a.cfg.Node.ID, Cluster: a.cfg.Cluster.Name,
		Engine: a.cfg.LockEngine.Type, Observed: time.Now()}
	members, err := a.members(ctx)
	if err != nil {
		return s, err
	}
	s.Members = members
	s.Resyncs = a.clusterResyncs(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	s.Session = api.SessionInfo{Valid: a.sess != nil, TTL: a.cfg.Leases.TTL.Duration}
	for _, uuid := range a.sortedUUIDs() {
		st := a.arrays[uuid]
		as := api.ArrayStatus{UUID: uuid, Name: st.cfg.Name, Mode: st.cfg.Mode, Device: st.mdName, Problem: st.problem}
		if o := st.last; o != nil {
			as.Level, as.State, as.SyncAction, as.Degraded = o.Level, string(o.State), string(o.SyncAction), o.Degraded
		}
		switch {
		case st.act != nil:
			as.ActiveOn = a.cfg.Node.Name
			s.Leases = append(s.Leases, api.Lease{Array: st.cfg.Name, Kind: api.KindActivation, Holder: a.cfg.Node.Name, Token: uint64(st.act.Token())})
		case st.holder != "":
			as.ActiveOn = st.holder
			s.Leases = append(s.Leases, api.Lease{Array: st.cfg.Name, Kind: api.KindActivation, Holder: st.holder})
		}
		if st.sync != nil {
			s.Leases = append(s.Leases, api.Lease{Array: st.cfg.Name, Kind: api.KindResync, Holder: a.cfg.Node.Name, Token: uint64(st.sync.Token())})
		}
		s.Arrays = append(s.Arrays, as)
	}
	// Another node's sync that is not waiting runs under that node's resync lease.
	for _, r := range s.Resyncs {
		if r.Node != a.cfg.Node.Name && !r.Waiting {
			s.Leases = append(s.Leases, api.Lease{Array: r.Array, Kind: api.KindResync, Holder: r.Node})
		}
	}
	return s, nil
}

func (a *Agent) sortedUUIDs() []string {
	var u []string
	for k := range a.arrays {
		u = append(u, k)
	}
	sort.Strings(u)
	return u
}

// members lists the nodes with a live session (etcd engines).
func (a *Agent) members(ctx context.Context) ([]api.Member, error) {
	if a.locks == nil || a.locks.kv == nil {
		return []api.Member{{Name: a.cfg.Node.Name, ID: a.cfg.Node.ID}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := a.locks.kv.Get(ctx, a.key("members")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	var out []api.Member
	for _, kv := range resp.Kvs {
		var m memberInfo
		if json.Unmarshal(kv.Value, &m) == nil {
			out = append(out, api.Member{Name: m.Name, ID: m.ID})
		}
	}
	return out, nil
}

// lookup finds a managed array by UUID or name.
func (a *Agent) lookup(array string) (*arrayState, error) {
	for _, st := range a.arrays {
		if st.cfg.UUID == array || st.cfg.Name == array {
			return st, nil
		}
	}
	return nil, &api.BadRequest{Msg: fmt.Sprintf("array: %q is not managed by this agent", array)}
}

// callerLeases are leases the agent holds on behalf of local callers (mdcadm).
type callerLease struct{ lock dlm.Lock }

// Acquire takes a lease for a local caller. Activation leases become the agent's own (the
// reconcile loop then treats the array as assembled here by right); others are held until
// Release or the end of the session.
func (a *Agent) Acquire(ctx context.Context, r api.AcquireRequest) (api.Grant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.lookup(r.Array)
	if err != nil {
		return api.Grant{}, err
	}
	if a.sess == nil {
		return api.Grant{}, errors.New("this node has no session in the lock engine")
	}
	if r.Kind == api.KindActivation {
		if st.cfg.Mode != config.ModeExclusive {
			return api.Grant{}, &api.BadRequest{Msg: fmt.Sprintf("kind: %s is a clustered array; activation leases are for exclusive arrays", st.cfg.Name)}
		}
		st.standby = false // the operator wants it here again
		if st.act == nil {
			if err := a.reconcileActivation(ctx, st, st.last); err != nil && st.act == nil {
				if st.holder != "" {
					return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: st.holder}
				}
				return api.Grant{}, err
			}
		}
		if st.act == nil {
			return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: st.holder}
		}
		return api.Grant{Array: st.cfg.UUID, Kind: r.Kind, Token: uint64(st.act.Token())}, nil
	}
	if r.Kind == api.KindRecovery || r.Kind == api.KindResync {
		// The caller (mdcadm --add) is about to start a sync: the agent takes the resync lease
		// and a slot itself, so its loop lets md run and releases both when md is done.
		ok, err := a.takeSync(ctx, st)
		if err != nil {
			return api.Grant{}, err
		}
		if !ok {
			return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: "another node (or every resync slot is busy)"}
		}
		return api.Grant{Array: st.cfg.UUID, Kind: r.Kind, Token: uint64(st.sync.Token())}, nil
	}
	res := r.Kind + "/" + st.cfg.UUID
	wctx, cancel := context.WithTimeout(ctx, max(r.Wait, opTimeout))
	defer cancel()
	var l dlm.Lock
	if r.Wait > 0 {
		l, err = a.sess.Lock(wctx, res, dlm.EX)
	} else {
		l, err = a.sess.TryLock(wctx, res, dlm.EX)
	}
	if errors.Is(err, dlm.ErrWouldBlock) || errors.Is(err, context.DeadlineExceeded) {
		return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: st.cfg.Name, Holder: "another node"}
	}
	if err != nil {
		return api.Grant{}, err
	}
	if a.callers == nil {
		a.callers = map[string]callerLease{}
	}
	a.callers[res] = callerLease{lock: l}
	return api.Grant{Array: st.cfg.UUID, Kind: r.Kind, Token: uint64(l.Token())}, nil
}

// Release gives back a lease taken with Acquire. Activation leases are released by stopping
// the array (the reconcile loop lets go once md no longer runs it) and are not handed back here.
func (a *Agent) Release(ctx context.Context, r api.ReleaseRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.lookup(r.Array)
	if err != nil {
		return err
	}
	if r.Kind == api.KindActivation {
		if st.act == nil || uint64(st.act.Token()) != r.Token {
			return &api.BadRequest{Msg: "token: not the current activation lease"}
		}
		// A clean stop: this node stands by. If md still runs the array the loop stops it
		// first; then the lease goes, and a waiting node takes the array over.
		st.standby = true
		if st.mdName == "" {
			a.standDown(st)
		}
		a.Kick()
		return nil
	}
	if r.Kind == api.KindRecovery || r.Kind == api.KindResync {
		// Released by the loop when md's sync ends; releasing earlier would let md run unleased.
		if st.sync == nil || uint64(st.sync.Token()) != r.Token {
			return nil
		}
		if st.last != nil && syncing(st.last.SyncAction) {
			return nil
		}
		a.releaseSync(st)
		return nil
	}
	res := r.Kind + "/" + st.cfg.UUID
	cl, ok := a.callers[res]
	if !ok || uint64(cl.lock.Token()) != r.Token {
		return &api.BadRequest{Msg: "token: no such lease held for a caller"}
	}
	release(cl.lock)
	delete(a.callers, res)
	return nil
}
