package agent

import (
	"context"
	"encoding/json"
	"maps"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/mdcluster/api"
)

// Counters returns a copy of the agent's running totals.
func (a *Agent) Counters() api.Counters {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.counter
	c.Actions = maps.Clone(a.counter.Actions)
	return c
}

// publishResyncs writes this node's resyncs (running or held back) to the cluster state, bound
// to the session's lease, so every node's status shows who syncs what and how far along it is.
// Called with a.mu held, at the end of a pass.
func (a *Agent) publishResyncs(ctx context.Context) {
	if a.locks == nil || a.locks.kv == nil || a.sess == nil {
		return
	}
	ls, ok := a.sess.(interface{ Lease() clientv3.LeaseID })
	if !ok {
		return
	}
	rs := a.localResyncs()
	for _, uuid := range a.sortedUUIDs() {
		key := a.key("resyncs", uuid, a.cfg.Node.Name)
		var r *api.Resync
		for i := range rs {
			if rs[i].Array == a.arrays[uuid].cfg.Name {
				r = &rs[i]
			}
		}
		val := ""
		if r != nil {
			b, _ := json.Marshal(r)
			val = string(b)
		}
		if prev, ok := a.published[uuid]; ok && prev == val {
			continue // unchanged since the last pass
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		var err error
		if r == nil {
			_, err = a.locks.kv.Delete(cctx, key)
		} else {
			_, err = a.locks.kv.Put(cctx, key, val, clientv3.WithLease(ls.Lease()))
		}
		cancel()
		if err != nil {
			a.log.Warn("publish resync state", "array", a.arrays[uuid].cfg.Name, "err", err)
			delete(a.published, uuid)
			continue
		}
		a.published[uuid] = val
	}
}

// localResyncs lists this node's resyncs as md shows them. Called with a.mu held.
func (a *Agent) localResyncs() []api.Resync {
	var out []api.Resync
	for _, uuid := range a.sortedUUIDs() {
		st := a.arrays[uuid]
		o := st.last
		if o == nil || (st.sync == nil && o.SyncAction != "frozen" && !syncing(o.SyncAction)) {
			continue
		}
		r := api.Resync{Array: st.cfg.Name, Node: a.cfg.Node.Name, Action: string(o.SyncAction), Waiting: st.sync == nil}
		if o.SyncCompleted != nil && o.SyncCompleted.Total > 0 {
			r.Progress = float64(o.SyncCompleted.Done) / float64(o.SyncCompleted.Total)
		}
		out = append(out, r)
	}
	return out
}

// clusterResyncs reads every node's published resyncs; without etcd it returns the local ones.
func (a *Agent) clusterResyncs(ctx context.Context) []api.Resync {
	if a.locks == nil || a.locks.kv == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.localResyncs()
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := a.locks.kv.Get(cctx, a.key("resyncs")+"/", clientv3.WithPrefix())
	if err != nil {
		a.log.Warn("read cluster resyncs", "err", err)
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.localResyncs()
	}
	var out []api.Resync
	for _, kv := range resp.Kvs {
		var r api.Resync
		if json.Unmarshal(kv.Value, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}
