package etcdlock

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// Inspect reads a resource's keys (a linearizable read) without taking a lock or queueing, so it
// answers while other requests wait: the granted locks (ordered by token), how many requests wait
// (new requests and pending conversions) and the lock value block.
func (e *Engine) Inspect(ctx context.Context, resource string) (dlm.ResourceInfo, error) {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return dlm.ResourceInfo{}, err
	}
	dir := e.dir(resource)
	resp, err := e.cli.Get(clientv3.WithRequireLeader(ctx), dir, clientv3.WithPrefix())
	if err != nil {
		return dlm.ResourceInfo{}, wrapErr("inspect", resource, err)
	}
	v := newView()
	for _, kv := range resp.Kvs {
		v.apply(strings.TrimPrefix(string(kv.Key), dir), kv, false)
	}
	v.clean()
	info := dlm.ResourceInfo{LVB: v.lvb}
	for _, en := range v.entries {
		if en.hasG {
			info.Granted = append(info.Granted, dlm.Holder{Session: dlm.SessionID(en.lease), Mode: en.gMod, Token: en.gTok})
		}
		if !en.hasG || en.hasC {
			info.Waiting++
		}
	}
	slices.SortFunc(info.Granted, func(a, b dlm.Holder) int { return cmpInt(int64(a.Token), int64(b.Token)) })
	return info, nil
}

// Inspect is Engine.Inspect.
func (s *Session) Inspect(ctx context.Context, resource string) (dlm.ResourceInfo, error) {
	return s.eng.Inspect(ctx, resource)
}

// Store returns the session's key-value store: etcd keys, written under the session's lease.
// Keys are absolute (the engine's prefix does not apply).
func (s *Session) Store() dlm.Store { return store{s} }

// store is the dlm.Store of a Session.
type store struct{ s *Session }

// Get reads every key under prefix at revision rev (0: the latest), linearizably.
func (st store) Get(ctx context.Context, prefix string, rev int64) ([]dlm.KeyValue, int64, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := st.s.cli.Get(clientv3.WithRequireLeader(ctx), prefix, opts...)
	if err != nil {
		return nil, 0, wrapErr("get", prefix, err)
	}
	out := make([]dlm.KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, keyValue(kv))
	}
	if rev <= 0 {
		rev = resp.Header.Revision
	}
	return out, rev, nil
}

// Put writes key under the session's lease; it is refused once the session has ended, even if
// etcd still has the lease (a holder must stop acting when Done closes).
func (st store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := st.s.alive("put", key); err != nil {
		return 0, err
	}
	resp, err := st.s.cli.Put(clientv3.WithRequireLeader(ctx), key, string(value), clientv3.WithLease(st.s.lease))
	if err != nil {
		return 0, wrapErr("put", key, err)
	}
	return resp.Header.Revision, nil
}

// Delete removes key; it is refused once the session has ended, like Put.
func (st store) Delete(ctx context.Context, key string) (int64, error) {
	if err := st.s.alive("delete", key); err != nil {
		return 0, err
	}
	resp, err := st.s.cli.Delete(clientv3.WithRequireLeader(ctx), key)
	if err != nil {
		return 0, wrapErr("delete", key, err)
	}
	return resp.Header.Revision, nil
}

// Watch follows the changes under prefix after revision rev (0: from now on) through an etcd
// watch that requires a leader: losing quorum ends it with an error, as does a compacted rev.
func (st store) Watch(ctx context.Context, prefix string, rev int64) <-chan dlm.WatchResponse {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	wctx, cancel := context.WithCancel(ctx)
	wch := st.s.cli.Watch(clientv3.WithRequireLeader(wctx), prefix, opts...)
	out := make(chan dlm.WatchResponse)
	go func() {
		defer close(out)
		defer cancel()
		send := func(r dlm.WatchResponse) bool {
			select {
			case out <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for wr := range wch {
			if err := wr.Err(); err != nil {
				send(dlm.WatchResponse{Err: wrapErr("watch", prefix, err)})
				return
			}
			if len(wr.Events) == 0 {
				continue
			}
			evs := make([]dlm.WatchEvent, 0, len(wr.Events))
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					evs = append(evs, dlm.WatchEvent{Deleted: true, KV: dlm.KeyValue{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}})
				} else {
					evs = append(evs, dlm.WatchEvent{KV: keyValue(ev.Kv)})
				}
			}
			if !send(dlm.WatchResponse{Events: evs}) {
				return
			}
		}
		if ctx.Err() == nil {
			send(dlm.WatchResponse{Err: fmt.Errorf("etcdlock: watch %q: the watch ended (client closed?)", prefix)})
		}
	}()
	return out
}

func keyValue(kv *mvccpb.KeyValue) dlm.KeyValue {
	return dlm.KeyValue{Key: string(kv.Key), Value: slices.Clone(kv.Value), ModRevision: kv.ModRevision, Session: dlm.SessionID(kv.Lease)}
}
