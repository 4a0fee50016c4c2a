package memlock

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"mdcluster.dev/dlm"
)

// kvEntry is one key of the store.
type kvEntry struct {
	value []byte
	mod   int64
	lease dlm.SessionID
}

// change is one key change, kept for reads at a past revision and for watches.
type change struct {
	rev     int64
	key     string
	value   []byte
	lease   dlm.SessionID
	deleted bool
}

// histChanged wakes the watches. svc.mu must be held.
func (svc *Service) histChanged() {
	close(svc.histCh)
	svc.histCh = make(chan struct{})
}

// Store returns the session's key-value store: keys written through it are bound to the session
// and vanish, in one revision, when it ends.
func (s *Session) Store() dlm.Store { return store{s} }

type store struct{ s *Session }

// Get returns every key under prefix at revision rev (0: the latest), in key order.
func (st store) Get(ctx context.Context, prefix string, rev int64) ([]dlm.KeyValue, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("memlock: get %q: %w", prefix, err)
	}
	svc := st.s.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if err := svc.call(st.s.eng, "get", prefix); err != nil {
		return nil, 0, err
	}
	if rev > svc.rev {
		return nil, 0, fmt.Errorf("memlock: get %q at revision %d: a future revision (now %d)", prefix, rev, svc.rev)
	}
	state := svc.kv
	if rev > 0 {
		state = map[string]kvEntry{}
		for _, c := range svc.hist {
			if c.rev > rev {
				break
			}
			if c.deleted {
				delete(state, c.key)
			} else {
				state[c.key] = kvEntry{value: c.value, mod: c.rev, lease: c.lease}
			}
		}
	} else {
		rev = svc.rev
	}
	var out []dlm.KeyValue
	for k, e := range state {
		if strings.HasPrefix(k, prefix) {
			out = append(out, dlm.KeyValue{Key: k, Value: slices.Clone(e.value), ModRevision: e.mod, Session: e.lease})
		}
	}
	slices.SortFunc(out, func(a, b dlm.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	return out, rev, nil
}

// Put writes key bound to the session; it is refused once the session has ended.
func (st store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := st.s.alive("put", key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memlock: put %q: %w", key, err)
	}
	if key == "" {
		return 0, fmt.Errorf("memlock: put: empty key")
	}
	svc := st.s.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if err := svc.call(st.s.eng, "put", key); err != nil {
		return 0, err
	}
	if svc.leases[st.s.id] == nil {
		return 0, fmt.Errorf("memlock: put %q: %w", key, dlm.ErrSessionExpired)
	}
	svc.rev++
	v := slices.Clone(value)
	svc.kv[key] = kvEntry{value: v, mod: svc.rev, lease: st.s.id}
	svc.hist = append(svc.hist, change{rev: svc.rev, key: key, value: v, lease: st.s.id})
	svc.histChanged()
	return svc.rev, nil
}

// Delete removes key; it is refused once the session has ended. Deleting a missing key changes
// nothing and returns the current revision.
func (st store) Delete(ctx context.Context, key string) (int64, error) {
	if err := st.s.alive("delete", key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memlock: delete %q: %w", key, err)
	}
	svc := st.s.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if err := svc.call(st.s.eng, "delete", key); err != nil {
		return 0, err
	}
	if _, ok := svc.kv[key]; ok {
		svc.rev++
		delete(svc.kv, key)
		svc.hist = append(svc.hist, change{rev: svc.rev, key: key, deleted: true})
		svc.histChanged()
	}
	return svc.rev, nil
}

// Watch streams the changes under prefix after revision rev (0: from now on), one response per
// revision. It ends with an error when calls of this client start failing until healed.
func (st store) Watch(ctx context.Context, prefix string, rev int64) <-chan dlm.WatchResponse {
	out := make(chan dlm.WatchResponse)
	svc := st.s.svc
	go func() {
		defer close(out)
		svc.mu.Lock()
		next := len(svc.hist) // index of the first change not yet sent
		if rev > 0 {
			next, _ = slices.BinarySearchFunc(svc.hist, rev+1, func(c change, r int64) int {
				return int(c.rev - r)
			})
		}
		svc.mu.Unlock()
		for {
			svc.mu.Lock()
			if svc.down(st.s.eng) {
				svc.mu.Unlock()
				select {
				case out <- dlm.WatchResponse{Err: fmt.Errorf("memlock: watch %q: %w (injected)", prefix, dlm.ErrNoQuorum)}:
				case <-ctx.Done():
				}
				return
			}
			batch := svc.hist[next:]
			next = len(svc.hist)
			ch, fch := svc.histCh, svc.faultCh
			svc.mu.Unlock()
			for len(batch) > 0 {
				n := 1
				for n < len(batch) && batch[n].rev == batch[0].rev {
					n++
				}
				var evs []dlm.WatchEvent
				for _, c := range batch[:n] {
					if !strings.HasPrefix(c.key, prefix) {
						continue
					}
					kv := dlm.KeyValue{Key: c.key, ModRevision: c.rev}
					if !c.deleted {
						kv.Value, kv.Session = slices.Clone(c.value), c.lease
					}
					evs = append(evs, dlm.WatchEvent{Deleted: c.deleted, KV: kv})
				}
				batch = batch[n:]
				if len(evs) == 0 {
					continue
				}
				select {
				case out <- dlm.WatchResponse{Events: evs}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ch:
			case <-fch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
