package memlock

import (
	"slices"

	"mdcluster.dev/dlm"
)

// resource is one lock resource: its requests in queue order, and its value block (which
// outlives every lock, as etcdlock's lvb key does).
type resource struct {
	reqs []*request
	lvb  []byte
}

// request is one lock as the service sees it, from its request to its unlock. Its fields are
// guarded by Service.mu.
type request struct {
	lease   *lease
	seq     uint64   // queue order
	want    dlm.Mode // mode asked for, while not granted
	granted bool
	mode    dlm.Mode // granted mode
	token   dlm.Token
	lvb     []byte // value block read with the last grant

	conv    bool // a conversion waits
	convTo  dlm.Mode
	convSeq uint64
	victim  bool // the pending conversion was cancelled to break a deadlock

	gone    bool          // unlocked, withdrawn, or its lease ended
	changed chan struct{} // closed and replaced on every change of the above

	bast   func(dlm.Mode)
	basted bool // a notice was given for bastM since the last grant or conversion
	bastM  dlm.Mode
	owner  *Session // the client session that gets the notices
}

func (q *request) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// resource returns the resource named name, creating it. svc.mu must be held.
func (svc *Service) resource(name string) *resource {
	r := svc.res[name]
	if r == nil {
		r = &resource{}
		svc.res[name] = r
	}
	return r
}

// grantPass decides which pending requests the DLM grants now, without changing anything (the
// rules of etcdlock's grantPass). Conversions come first, in the order they were asked: one is
// granted when compatible with every other granted mode and with the wanted modes of earlier
// conversions still pending. Then new requests in queue order: granted when compatible with
// every granted mode, every pending conversion and every earlier waiter still pending (FIFO, yet
// compatible requests go together).
func (r *resource) grantPass() []*request {
	var conv, wait []*request
	modes := map[*request]dlm.Mode{}
	for _, q := range r.reqs {
		switch {
		case q.conv:
			conv = append(conv, q)
		case !q.granted:
			wait = append(wait, q)
		}
		if q.granted {
			modes[q] = q.mode
		}
	}
	slices.SortFunc(conv, func(a, b *request) int { return cmpU(a.convSeq, b.convSeq) })
	var out []*request
	var pendingConv []dlm.Mode
	for _, c := range conv {
		ok := compatAll(c.convTo, pendingConv)
		for q, m := range modes {
			if q != c && !dlm.Compatible(c.convTo, m) {
				ok = false
			}
		}
		if ok {
			modes[c] = c.convTo
			out = append(out, c)
		} else {
			pendingConv = append(pendingConv, c.convTo)
		}
	}
	var pendingWait []dlm.Mode
	for _, w := range wait {
		ok := compatAll(w.want, pendingConv) && compatAll(w.want, pendingWait)
		for _, m := range modes {
			if !dlm.Compatible(w.want, m) {
				ok = false
			}
		}
		if ok {
			modes[w] = w.want
			out = append(out, w)
		} else {
			pendingWait = append(pendingWait, w.want)
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

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deadlockVictim reports whether the pending conversion of me must be cancelled to break a
// conversion deadlock (etcdlock's rule). Converters wait on every other lock whose granted mode
// blocks them and on earlier conversions whose wanted mode blocks them; only converters both hold
// and wait, so only they form cycles. The victim of a cycle is its latest conversion.
func (r *resource) deadlockVictim(me *request) bool {
	var conv []*request
	for _, q := range r.reqs {
		if q.conv {
			conv = append(conv, q)
		}
	}
	edges := map[*request][]*request{}
	for _, c := range conv {
		for _, d := range conv {
			if c != d && (!dlm.Compatible(c.convTo, d.mode) || (d.convSeq < c.convSeq && !dlm.Compatible(c.convTo, d.convTo))) {
				edges[c] = append(edges[c], d)
			}
		}
	}
	reach := func(from *request) map[*request]bool {
		seen := map[*request]bool{}
		stack := []*request{from}
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
	fromMe := reach(me)
	if !fromMe[me] {
		return false
	}
	for other := range fromMe {
		if other != me && reach(other)[me] && other.convSeq > me.convSeq {
			return false
		}
	}
	return true
}

// blockedBy returns the strongest mode wanted by a pending request incompatible with mode m held
// by me: what a blocking notice reports.
func (r *resource) blockedBy(me *request, m dlm.Mode) (dlm.Mode, bool) {
	var want dlm.Mode
	found := false
	for _, q := range r.reqs {
		var w dlm.Mode
		switch {
		case q == me:
			continue
		case q.conv:
			w = q.convTo
		case !q.granted:
			w = q.want
		default:
			continue
		}
		if !dlm.Compatible(m, w) && (!found || w > want) {
			want, found = w, true
		}
	}
	return want, found
}

// notice is a blocking notice to deliver once Service.mu is released.
type notice struct {
	owner *Session
	fn    func(dlm.Mode)
	mode  dlm.Mode
}

func deliver(ns []notice) {
	for _, n := range ns {
		n.owner.notify(n.fn, n.mode)
	}
}

// settle grants what can be granted and cancels deadlocked conversions until nothing changes,
// then returns the blocking notices due. svc.mu must be held.
func (svc *Service) settle(r *resource) []notice {
	for {
		gs := r.grantPass()
		for _, q := range gs {
			if q.conv {
				q.conv, q.mode = false, q.convTo
			} else {
				q.granted, q.mode = true, q.want
			}
			svc.rev++
			q.token, q.lvb, q.basted = dlm.Token(svc.rev), cloneLVB(r.lvb), false
			q.signal()
		}
		victims := 0
		for _, q := range r.reqs {
			if q.conv && r.deadlockVictim(q) {
				q.conv, q.victim = false, true
				q.signal()
				victims++
			}
		}
		if len(gs) == 0 && victims == 0 {
			break
		}
	}
	var ns []notice
	for _, q := range r.reqs {
		if !q.granted || q.bast == nil || q.owner == nil {
			continue
		}
		if w, ok := r.blockedBy(q, q.mode); ok && (!q.basted || w > q.bastM) {
			q.basted, q.bastM = true, w
			ns = append(ns, notice{owner: q.owner, fn: q.bast, mode: w})
		}
	}
	return ns
}

func cloneLVB(b []byte) []byte {
	if b == nil {
		return nil
	}
	return slices.Clone(b)
}
