package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"path"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// localResync is this node's sync of an array as md shows it, or nil when there is none to
// report (neither running, nor held back, nor under our lease).
func (r *Reconciler) localResync(st *arrayState, obs *md.Array) *api.Resync {
	if obs == nil || (st.sync == nil && obs.SyncAction != md.SyncFrozen && !syncing(obs.SyncAction)) {
		return nil
	}
	rs := &api.Resync{Array: st.cfg.Name, Node: r.d.Node.Name, Action: string(obs.SyncAction), Leased: st.sync != nil}
	// Held back means held back by this agent, for want of the lease or a slot: only exclusive
	// arrays are. An md-cluster array frozen by someone else (mdadm around a --grow) shows as
	// md shows it, frozen, but is not waiting for the agent.
	rs.Waiting = st.cfg.Mode == config.ModeExclusive && st.sync == nil
	if o := obs.SyncCompleted; o != nil && o.Total > 0 {
		rs.Progress = float64(o.Done) / float64(o.Total)
	}
	return rs
}

// publishResync writes this node's sync of the array to the cluster state, bound to the
// session, so that every node's status shows who syncs what. It writes only on change.
func (r *Reconciler) publishResync(ctx context.Context, s *session, st *arrayState, obs *md.Array) {
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return
	}
	var val []byte
	if rs := r.localResync(st, obs); rs != nil {
		val, _ = json.Marshal(rs)
	}
	if st.published != nil && st.publishedGen == s.gen && bytes.Equal(*st.published, val) {
		return
	}
	key := path.Join(r.d.Prefix, "state", "resyncs", st.cfg.UUID, r.d.Node.Name)
	var err error
	if val == nil {
		_, err = ss.Store().Delete(ctx, key)
	} else {
		_, err = ss.Store().Put(ctx, key, val)
	}
	if err != nil {
		r.d.Log.Warn("publish resync state", "array", st.cfg.Name, "err", err)
		st.published = nil
		return
	}
	st.published, st.publishedGen = &val, s.gen
}

// resyncs reads every node's published syncs; without a store, the local ones.
func (a *Agent) resyncs(ctx context.Context, store dlm.Store) []api.Resync {
	var out []api.Resync
	if store != nil {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		kvs, _, err := store.Get(cctx, a.key("resyncs")+"/", 0)
		cancel()
		if err == nil {
			for _, kv := range kvs {
				var rs api.Resync
				if json.Unmarshal(kv.Value, &rs) == nil {
					out = append(out, rs)
				}
			}
			return out
		}
		a.log.Warn("read cluster resyncs", "err", err)
	}
	for _, st := range a.rec.states() {
		v := st.getView()
		if v.resync != nil {
			out = append(out, *v.resync)
		}
	}
	return out
}
