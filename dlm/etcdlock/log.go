package etcdlock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

var _ dlm.Log = store{}

// Append puts value under a new key (dlm.AppendKey) without a lease, so it outlives every
// session, then trims the log: one range delete for the age bound, a count and at most one
// range delete for the count bound.
func (st store) Append(ctx context.Context, prefix string, value []byte, keep dlm.Retention) (int64, error) {
	if err := st.s.alive("append", prefix); err != nil {
		return 0, err
	}
	now := time.Now()
	key := dlm.AppendKey(prefix, now, rand.Uint64())
	resp, err := st.s.cli.Put(clientv3.WithRequireLeader(ctx), key, string(value))
	if err != nil {
		return 0, wrapErr("append", prefix, err)
	}
	st.trim(ctx, prefix, now, keep)
	return resp.Header.Revision, nil
}

// trim removes the records that keep no longer allows. Errors are dropped: the append is done,
// and the next one trims again.
func (st store) trim(ctx context.Context, prefix string, now time.Time, keep dlm.Retention) {
	cli := st.s.cli
	if keep.MaxAge > 0 {
		_, _ = cli.Delete(ctx, prefix, clientv3.WithRange(dlm.AgeBound(prefix, now, keep.MaxAge)))
	}
	if keep.MaxCount <= 0 {
		return
	}
	n, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || n.Count <= int64(keep.MaxCount) {
		return
	}
	old, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(n.Count-int64(keep.MaxCount)))
	if err != nil || len(old.Kvs) == 0 {
		return
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	_, _ = cli.Delete(ctx, string(old.Kvs[0].Key), clientv3.WithRange(last+"\x00"))
}

// Since reads the records under prefix modified after revision after, sorted by revision. Appended
// keys are never rewritten, so their modification is their creation.
func (st store) Since(ctx context.Context, prefix string, after int64, limit int) ([]dlm.KeyValue, int64, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinModRev(after + 1),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := st.s.cli.Get(clientv3.WithRequireLeader(ctx), prefix, opts...)
	if err != nil {
		return nil, 0, wrapErr("since", prefix, err)
	}
	out := make([]dlm.KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, keyValue(kv))
	}
	return out, resp.Header.Revision, nil
}

// CompareAndSwap puts key without a lease in one transaction guarded by its mod revision.
func (st store) CompareAndSwap(ctx context.Context, key string, value []byte, modRev int64) (int64, error) {
	return st.swap(ctx, "compare-and-swap", key, modRev, clientv3.OpPut(key, string(value)))
}

// CompareAndDelete deletes key in one transaction guarded by its mod revision.
func (st store) CompareAndDelete(ctx context.Context, key string, modRev int64) (int64, error) {
	return st.swap(ctx, "compare-and-delete", key, modRev, clientv3.OpDelete(key))
}

func (st store) swap(ctx context.Context, op, key string, modRev int64, then clientv3.Op) (int64, error) {
	if err := st.s.alive(op, key); err != nil {
		return 0, err
	}
	resp, err := st.s.cli.Txn(clientv3.WithRequireLeader(ctx)).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(then).Commit()
	if err != nil {
		return 0, wrapErr(op, key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcdlock: %s %q at revision %d: %w", op, key, modRev, dlm.ErrConflict)
	}
	return resp.Header.Revision, nil
}
