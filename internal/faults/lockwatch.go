package faults

import (
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/internal/faults/check"
)

// lockWatch follows the exclusive array's activation lease in the host etcd, as etcdlock lays it
// out (q/<id> the request, g/<id> the grant whose mod revision makes the token, <id> =
// "<lease hex>.<seq>"), and the agents' member keys (which lease is which node's). Every grant,
// conversion and release becomes a write of the lock history, stamped when the host saw it: it
// took effect in etcd before that, at most watchLag earlier.
type lockWatch struct {
	o      *observer
	prefix string // the agents' lock_engine.prefix
	dir    string // the activation lease's resource directory
	port   int

	entries map[string]*lockEntry
	granted map[string]uint64 // the grant set of the last diff: id → token
	mu      sync.Mutex        // guards nodes
	nodes   map[int64]int     // lease → node
	cancel  context.CancelFunc
	done    chan struct{}
}

// watchLag bounds how long before the host saw an etcd change it happened.
const watchLag = int64(time.Second)

type lockEntry struct {
	granted bool
	token   uint64
	fast    bool // granted on etcdlock's fast path: no g key yet
}

func newLockWatch(o *observer, port int, prefix, uuid string) *lockWatch {
	dir := strings.TrimSuffix(prefix, "/") + "/dlm/" + url.PathEscape("act/"+uuid) + "/"
	return &lockWatch{o: o, prefix: prefix, dir: dir, port: port, entries: map[string]*lockEntry{}, nodes: map[int64]int{}}
}

// start follows etcd until stop; a watch broken by an etcd restart resumes from the last
// revision it saw.
func (w *lockWatch) start(ctx context.Context) error {
	cli, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: []string{"http://127.0.0.1:" + strconv.Itoa(w.port)}})
	if err != nil {
		return err
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		defer cli.Close()
		rev := int64(0)
		for ctx.Err() == nil {
			opts := []clientv3.OpOption{clientv3.WithPrefix()}
			if rev > 0 {
				opts = append(opts, clientv3.WithRev(rev+1))
			}
			for resp := range cli.Watch(clientv3.WithRequireLeader(ctx), w.prefix, opts...) {
				if resp.Err() != nil {
					break
				}
				for _, ev := range resp.Events {
					w.apply(ev)
					rev = ev.Kv.ModRevision
				}
				w.diff()
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return nil
}

func (w *lockWatch) stop() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
}

// apply folds one etcd event into the entries and the lease map.
func (w *lockWatch) apply(ev *clientv3.Event) {
	key, del := string(ev.Kv.Key), ev.Type == clientv3.EventTypeDelete
	if rest, ok := strings.CutPrefix(key, w.prefix+"state/members/"); ok && !del {
		var m struct {
			ID      int   `json:"id"`
			Session int64 `json:"session"`
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if json.Unmarshal(ev.Kv.Value, &m) == nil && m.Session != 0 {
			w.nodes[m.Session] = m.ID
		} else if id, err := strconv.Atoi(strings.TrimPrefix(rest, "node")); err == nil && ev.Kv.Lease != 0 {
			w.nodes[ev.Kv.Lease] = id
		}
		return
	}
	rel, ok := strings.CutPrefix(key, w.dir)
	if !ok {
		return
	}
	kind, id, ok := strings.Cut(rel, "/")
	if !ok {
		return
	}
	e := w.entries[id]
	switch {
	case kind == "q" && del:
		delete(w.entries, id)
	case kind == "q":
		if e == nil {
			e = &lockEntry{}
			w.entries[id] = e
		}
		if len(ev.Kv.Value) > 1 && ev.Kv.Value[1] == 1 && !e.granted {
			e.granted, e.fast, e.token = true, true, uint64(ev.Kv.ModRevision)<<8
		}
	case kind == "g" && e != nil && del:
		e.granted = false
	case kind == "g" && e != nil:
		var idx uint64
		if len(ev.Kv.Value) > 1 {
			idx = uint64(ev.Kv.Value[1])
		}
		e.granted, e.fast, e.token = true, false, uint64(ev.Kv.ModRevision)<<8|idx
	}
}

// diff turns the change of the grant set since the last call into lock operations.
func (w *lockWatch) diff() {
	now := w.o.now()
	at := check.Span{Lo: now - watchLag, Hi: now}
	cur := map[string]uint64{}
	for id, e := range w.entries {
		if e.granted {
			cur[id] = e.token
		}
	}
	for id, tok := range w.granted {
		if _, ok := cur[id]; !ok {
			w.o.lockOp(w.op(check.OpRelease, id, tok, at))
		}
	}
	for id, tok := range cur {
		p, had := w.granted[id]
		switch {
		case !had:
			w.o.lockOp(w.op(check.OpAcquire, id, tok, at))
		case p != tok:
			w.o.lockOp(w.op(check.OpConvert, id, tok, at))
		}
	}
	w.granted = cur
}

func (w *lockWatch) op(kind, id string, tok uint64, at check.Span) check.LockOp {
	h, _, _ := strings.Cut(id, ".")
	lease, _ := strconv.ParseUint(h, 16, 64)
	w.mu.Lock()
	defer w.mu.Unlock()
	return check.LockOp{Src: "etcd", Op: kind, Node: w.nodes[int64(lease)], Lease: int64(lease), Token: tok, At: at}
}

// leaseNodes returns the lease → node map seen so far.
func (w *lockWatch) leaseNodes() map[int64]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.nodes)
}
