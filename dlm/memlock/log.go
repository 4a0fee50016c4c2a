package memlock

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"mdcluster.dev/dlm"
)

var _ dlm.Log = store{}

// write checks that the session may still write and that the call is not failed on purpose;
// it returns with svc.mu held when it returns nil.
func (st store) write(ctx context.Context, op, key string) error {
	if err := st.s.alive(op, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlock: %s %q: %w", op, key, err)
	}
	svc := st.s.svc
	svc.mu.Lock()
	if err := svc.call(st.s.eng, op, key); err != nil {
		svc.mu.Unlock()
		return err
	}
	return nil
}

// set changes key (nil entry: deletes it) in a new revision, bound to no session. svc.mu must
// be held.
func (svc *Service) set(key string, value []byte, del bool) int64 {
	svc.rev++
	if del {
		delete(svc.kv, key)
		svc.hist = append(svc.hist, change{rev: svc.rev, key: key, deleted: true})
	} else {
		v := slices.Clone(value)
		svc.kv[key] = kvEntry{value: v, mod: svc.rev}
		svc.hist = append(svc.hist, change{rev: svc.rev, key: key, value: v})
	}
	svc.histChanged()
	return svc.rev
}

// Append writes value under a new key that no session owns, then trims the log under prefix.
func (st store) Append(ctx context.Context, prefix string, value []byte, keep dlm.Retention) (int64, error) {
	if err := st.write(ctx, "append", prefix); err != nil {
		return 0, err
	}
	svc := st.s.svc
	defer svc.mu.Unlock()
	now := time.Now()
	rev := svc.set(dlm.AppendKey(prefix, now, rand.Uint64()), value, false)
	var keys []string
	for k := range svc.kv {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	drop := 0
	if keep.MaxAge > 0 {
		bound := dlm.AgeBound(prefix, now, keep.MaxAge)
		drop, _ = slices.BinarySearch(keys, bound)
	}
	if keep.MaxCount > 0 && len(keys)-drop > keep.MaxCount {
		drop = len(keys) - keep.MaxCount
	}
	for _, k := range keys[:drop] {
		svc.set(k, nil, true)
	}
	return rev, nil
}

// Since returns the keys under prefix modified after revision after, in revision order.
func (st store) Since(ctx context.Context, prefix string, after int64, limit int) ([]dlm.KeyValue, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("memlock: since %q: %w", prefix, err)
	}
	svc := st.s.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if err := svc.call(st.s.eng, "since", prefix); err != nil {
		return nil, 0, err
	}
	var out []dlm.KeyValue
	for k, e := range svc.kv {
		if strings.HasPrefix(k, prefix) && e.mod > after {
			out = append(out, dlm.KeyValue{Key: k, Value: slices.Clone(e.value), ModRevision: e.mod, Session: e.lease})
		}
	}
	slices.SortFunc(out, func(a, b dlm.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, svc.rev, nil
}

// CompareAndSwap writes key, owned by no session, if its mod revision is still modRev.
func (st store) CompareAndSwap(ctx context.Context, key string, value []byte, modRev int64) (int64, error) {
	return st.swap(ctx, "compare-and-swap", key, value, modRev, false)
}

// CompareAndDelete deletes key if its mod revision is still modRev.
func (st store) CompareAndDelete(ctx context.Context, key string, modRev int64) (int64, error) {
	return st.swap(ctx, "compare-and-delete", key, nil, modRev, true)
}

func (st store) swap(ctx context.Context, op, key string, value []byte, modRev int64, del bool) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("memlock: %s: empty key", op)
	}
	if err := st.write(ctx, op, key); err != nil {
		return 0, err
	}
	svc := st.s.svc
	defer svc.mu.Unlock()
	if svc.leases[st.s.id] == nil {
		return 0, fmt.Errorf("memlock: %s %q: %w", op, key, dlm.ErrSessionExpired)
	}
	if svc.kv[key].mod != modRev { // an absent key has mod 0
		return 0, fmt.Errorf("memlock: %s %q at revision %d: %w", op, key, modRev, dlm.ErrConflict)
	}
	if del && modRev == 0 {
		return svc.rev, nil // nothing to delete, as etcd's delete of a missing key
	}
	return svc.set(key, value, del), nil
}
