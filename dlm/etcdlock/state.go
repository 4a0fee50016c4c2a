package etcdlock

import (
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"mdcluster.dev/dlm"
)

// Key layout under <prefix>/<escaped resource>/:
//
//	q/<id>  the request; created when the lock is asked for, deleted on
//	        unlock. Its create revision orders the wait queue (FIFO) and its
//	        value is the mode first asked for.
//	g/<id>  the grant; its value is the granted mode and its mod revision
//	        is the fencing token (written only by the txn that grants).
//	c/<id>  a pending conversion; value = wanted mode, create revision
//	        orders the convert queue.
//	        A request granted on the fast path (the resource had no
//	        request at all) has value [mode, qGranted] and no g key until
//	        its first conversion; its token is its create revision.
//	lvb     the lock value block (no lease: it outlives its writers).
//
// q, g and c keys carry the owner's session lease, so they all vanish in the
// revision where the lease expires. <id> is "<lease hex>.<seq>".

// tokenOf is the fencing token of a grant key: the revision of the
// transaction that granted it times 256 plus the grant's index within that
// transaction (one transaction may grant several compatible requests), so
// tokens are unique and increase with the revision.
func tokenOf(kv *mvccpb.KeyValue) dlm.Token {
	var idx byte
	if len(kv.Value) > 1 {
		idx = kv.Value[1]
	}
	return mkToken(kv.ModRevision, idx)
}

func mkToken(rev int64, idx byte) dlm.Token { return dlm.Token(rev)<<8 | dlm.Token(idx) }

// gval is the value of a grant key: mode and index in its transaction.
func gval(m dlm.Mode, idx byte) string { return string([]byte{byte(m), idx}) }

// qGranted marks a request granted on the fast path. No other decision can
// race with such a grant: it commits only while the resource has no request,
// and every other decision is taken by a request that exists.
const qGranted = 1

// maxGrantsPerTxn keeps the index in one byte.
const maxGrantsPerTxn = 255

// entry is one lock as seen in a view.
type entry struct {
	id    string
	lease int64

	qRev int64
	req  dlm.Mode

	hasG bool // granted, by a g key or on the fast path
	gKey bool // the g key exists
	gMod dlm.Mode
	gRev int64     // mod revision of g: the grant's revision
	gTok dlm.Token // fencing token (tokenOf)

	hasC bool
	cMod dlm.Mode
	cRev int64
}

// view is the state of one resource at revision rev.
type view struct {
	rev     int64
	entries map[string]*entry
	lvb     []byte
}

func newView() *view { return &view{entries: map[string]*entry{}} }

// leaseOf extracts the lease from an id "<lease hex>.<seq>".
func leaseOf(id string) int64 {
	h, _, _ := strings.Cut(id, ".")
	v, _ := strconv.ParseUint(h, 16, 64)
	return int64(v)
}

// apply folds one key-value change into the view. rel is the key relative
// to the resource directory ("q/<id>", "g/<id>", "c/<id>", "lvb").
func (v *view) apply(rel string, kv *mvccpb.KeyValue, deleted bool) {
	if rel == "lvb" {
		if deleted {
			v.lvb = nil
		} else {
			v.lvb = slices.Clone(kv.Value)
		}
		return
	}
	kind, id, ok := strings.Cut(rel, "/")
	if !ok || id == "" {
		return
	}
	e := v.entries[id]
	if e == nil {
		if deleted {
			return
		}
		// A g or c key is only ever written together with or after its q
		// key; clean drops entries that end a batch without one.
		e = &entry{id: id, lease: leaseOf(id)}
		v.entries[id] = e
	}
	mode := dlm.Mode(0)
	if !deleted && len(kv.Value) > 0 {
		mode = dlm.Mode(kv.Value[0])
	}
	switch kind {
	case "q":
		if deleted {
			delete(v.entries, id)
			return
		}
		e.qRev, e.req = kv.CreateRevision, mode
		if len(kv.Value) > 1 && kv.Value[1] == qGranted && !e.gKey {
			// Granted on the fast path, with no grant key (yet).
			e.hasG, e.gMod, e.gRev, e.gTok = true, mode, kv.ModRevision, mkToken(kv.ModRevision, 0)
		}
	case "g":
		e.hasG, e.gKey = !deleted, !deleted
		if !deleted {
			e.gMod, e.gRev, e.gTok = mode, kv.ModRevision, tokenOf(kv)
		}
	case "c":
		e.hasC = !deleted
		if !deleted {
			e.cMod, e.cRev = mode, kv.CreateRevision
		}
	}
}

// clean drops entries whose q key is gone (seen only half-deleted).
func (v *view) clean() {
	for id, e := range v.entries {
		if e.qRev == 0 {
			delete(v.entries, id)
		}
	}
}

func (v *view) clone() *view {
	c := &view{rev: v.rev, entries: make(map[string]*entry, len(v.entries)), lvb: v.lvb}
	for id, e := range v.entries {
		ce := *e
		c.entries[id] = &ce
	}
	return c
}

// grant is one decision of the grant pass: entry id gets mode.
type grant struct {
	e    *entry
	mode dlm.Mode
	conv bool
}

// sorted returns the converters (by convert order) and the new-request
// waiters (by queue order) of the view.
func (v *view) queues() (conv, wait []*entry) {
	for _, e := range v.entries {
		switch {
		case e.hasC:
			conv = append(conv, e)
		case !e.hasG:
			wait = append(wait, e)
		}
	}
	slices.SortFunc(conv, func(a, b *entry) int { return cmpInt(a.cRev, b.cRev) })
	slices.SortFunc(wait, func(a, b *entry) int { return cmpInt(a.qRev, b.qRev) })
	return conv, wait
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// grantPass decides which pending requests the DLM would grant now,
// without changing v. Conversions come first, in convert-queue order: a
// conversion is granted when its mode is compatible with the modes granted
// to every other lock and with the wanted modes of earlier conversions still
// pending. Then new requests in queue order: granted when compatible with
// every granted mode, every pending conversion, and every earlier waiter
// still pending (FIFO fairness, yet compatible requests go together).
func (v *view) grantPass() []grant {
	conv, wait := v.queues()
	granted := map[string]dlm.Mode{}
	for id, e := range v.entries {
		if e.hasG {
			granted[id] = e.gMod
		}
	}
	var out []grant
	var pendingConv []dlm.Mode
	for _, c := range conv {
		ok := compatAll(c.cMod, pendingConv)
		for id, m := range granted {
			if id != c.id && !dlm.Compatible(c.cMod, m) {
				ok = false
			}
		}
		if ok {
			granted[c.id] = c.cMod
			out = append(out, grant{e: c, mode: c.cMod, conv: true})
		} else {
			pendingConv = append(pendingConv, c.cMod)
		}
	}
	var pendingWait []dlm.Mode
	for _, w := range wait {
		ok := compatAll(w.req, pendingConv) && compatAll(w.req, pendingWait)
		for _, m := range granted {
			if !dlm.Compatible(w.req, m) {
				ok = false
			}
		}
		if ok {
			granted[w.id] = w.req
			out = append(out, grant{e: w, mode: w.req})
		} else {
			pendingWait = append(pendingWait, w.req)
		}
	}
	return out
}

func compatAll(m dlm.Mode, ms []dlm.Mode) bool {
	for _, o := range ms {
		if !dlm.Compatible(m, o) {
			return false
		}
	}
	return true
}

// deadlockVictim reports whether the pending conversion of id must be
// cancelled to break a conversion deadlock. Converters wait on every other
// lock whose granted mode blocks them and on earlier conversions whose wanted
// mode blocks them; only converters both hold and wait, so only they can
// form a cycle. The victim of a cycle is its latest conversion, so every
// client picks the same one.
func (v *view) deadlockVictim(id string) bool {
	me := v.entries[id]
	if me == nil || !me.hasC {
		return false
	}
	conv, _ := v.queues()
	edges := map[string][]string{}
	for _, c := range conv {
		for _, d := range conv {
			if c == d {
				continue
			}
			if (d.hasG && !dlm.Compatible(c.cMod, d.gMod)) || (d.cRev < c.cRev && !dlm.Compatible(c.cMod, d.cMod)) {
				edges[c.id] = append(edges[c.id], d.id)
			}
		}
	}
	reach := func(from string) map[string]bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, m := range edges[n] {
				if !seen[m] {
					seen[m] = true
					stack = append(stack, m)
				}
			}
		}
		return seen
	}
	fromMe := reach(id)
	if !fromMe[id] {
		return false // not on a cycle
	}
	for other := range fromMe {
		if other != id && reach(other)[id] && v.entries[other].cRev > me.cRev {
			return false // a later conversion on the same cycle is the victim
		}
	}
	return true
}

// blockers returns the strongest mode wanted by a pending request that is
// incompatible with mode m held by id: what a blocking notice reports.
func (v *view) blockedBy(id string, m dlm.Mode) (dlm.Mode, bool) {
	var want dlm.Mode
	found := false
	for oid, e := range v.entries {
		if oid == id {
			continue
		}
		var w dlm.Mode
		switch {
		case e.hasC:
			w = e.cMod
		case !e.hasG:
			w = e.req
		default:
			continue
		}
		if !dlm.Compatible(m, w) && (!found || w > want) {
			want, found = w, true
		}
	}
	return want, found
}
