package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"pgregory.net/rapid"

	"mdcluster.dev/dlm"
)

type opKind int

const (
	opLock opKind = iota
	opTry
	opConvert
	opUnlock
	opExpire
)

type op struct {
	kind opKind
	res  string
	mode dlm.Mode
}

func (o op) String() string {
	return fmt.Sprintf("%s(%s,%v)", [...]string{"lock", "try", "convert", "unlock", "expire"}[o.kind], o.res, o.mode)
}

// interval is one observed hold: it starts after the grant was returned and
// ends before the release was asked for (or when the session's Done fired),
// so it lies within the real hold.
type interval struct {
	client     int
	lockID     string
	res        string
	mode       dlm.Mode
	token      dlm.Token
	asked      time.Time // request issued
	start, end time.Time
}

type history struct {
	mu  sync.Mutex
	ivs []*interval
	bad []string
}

func (h *history) add(iv *interval) {
	h.mu.Lock()
	h.ivs = append(h.ivs, iv)
	h.mu.Unlock()
}

func (h *history) fail(format string, args ...any) {
	h.mu.Lock()
	h.bad = append(h.bad, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// Random concurrent locks, conversions, unlocks and session expiries from
// five clients spread over a 3-member cluster never leave two incompatible
// holders, fencing tokens increase per resource, and every request ends
// granted or with a reason.
func TestPropertyNoIncompatibleHolders(t *testing.T) {
	c := start3(t)
	resources := []string{"a", "b"}
	modes := []dlm.Mode{dlm.NL, dlm.CR, dlm.CW, dlm.PR, dlm.PW, dlm.EX}
	genOp := rapid.Custom(func(rt *rapid.T) op {
		k := rapid.SampledFrom([]opKind{opLock, opLock, opTry, opConvert, opConvert, opUnlock, opUnlock, opExpire}).Draw(rt, "kind")
		return op{k, rapid.SampledFrom(resources).Draw(rt, "res"), rapid.SampledFrom(modes).Draw(rt, "mode")}
	})
	rapid.Check(t, func(rt *rapid.T) {
		plans := make([][]op, 5)
		for i := range plans {
			plans[i] = rapid.SliceOfN(genOp, 2, 7).Draw(rt, fmt.Sprintf("client%d", i))
			// At most one expiry per client: each costs a TTL.
			seen := false
			plans[i] = filter(plans[i], func(o op) bool {
				if o.kind != opExpire {
					return true
				}
				keep := !seen
				seen = true
				return keep
			})
		}
		prefix := uniquePrefix(t)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start, err := c.cli[0].Get(ctx, "/")
		if err != nil {
			rt.Fatal(err)
		}
		h := &history{}
		var wg sync.WaitGroup
		for i, plan := range plans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runClient(ctx, h, New(c.cli[i%3], WithPrefix(prefix)), i, plan)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			rt.Fatalf("clients did not finish: a request was neither granted nor refused")
		}
		for _, b := range h.bad {
			rt.Error(b)
		}
		checkIntervals(rt, h.ivs)
		checkEtcdHistory(ctx, rt, c.cli[0], prefix, start.Header.Revision)
	})
}

func filter[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// runClient executes one client's plan, recording hold intervals.
func runClient(ctx context.Context, h *history, e *Engine, id int, plan []op) {
	const ttl = 2 * time.Second
	s, err := e.Open(ctx, dlm.WithTTL(ttl))
	if err != nil {
		h.fail("client %d: open: %v", id, err)
		return
	}
	held := map[string]*Lock{}
	open := map[string]*interval{}
	doneAt := watchDone(s)
	endAll := func(at time.Time) {
		for k, iv := range open {
			iv.end = at
			h.add(iv)
			delete(open, k)
		}
		clear(held)
	}
	// sessionLost closes every interval at the moment Done fired.
	sessionLost := func() bool {
		select {
		case <-s.Done():
			endAll(<-doneAt)
			return true
		default:
			return false
		}
	}
	renew := func() bool {
		s.Close()
		if s, err = e.Open(ctx, dlm.WithTTL(ttl)); err != nil {
			h.fail("client %d: reopen: %v", id, err)
			return false
		}
		doneAt = watchDone(s)
		return true
	}
	defer func() { s.Close() }()
	allowed := func(err error) bool {
		return errors.Is(err, dlm.ErrWouldBlock) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, dlm.ErrSessionExpired) || errors.Is(err, dlm.ErrDeadlock)
	}
	for _, o := range plan {
		if sessionLost() && !renew() {
			return
		}
		l := held[o.res]
		switch {
		case (o.kind == opLock || o.kind == opTry) && l == nil:
			asked := time.Now()
			octx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			var dl dlm.Lock
			if o.kind == opLock {
				dl, err = s.Lock(octx, o.res, o.mode)
			} else {
				dl, err = s.TryLock(octx, o.res, o.mode)
			}
			cancel()
			if err != nil {
				if !allowed(err) {
					h.fail("client %d: %v: unexpected error %v", id, o, err)
				}
				continue
			}
			l = dl.(*Lock)
			held[o.res] = l
			open[o.res] = &interval{client: id, lockID: l.id, res: o.res, mode: l.Mode(), token: l.Token(), asked: asked, start: time.Now()}
		case o.kind == opConvert && l != nil:
			iv := open[o.res]
			iv.end = time.Now()
			h.add(iv)
			octx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			err = l.Convert(octx, o.mode)
			cancel()
			if err != nil && !allowed(err) {
				h.fail("client %d: %v: unexpected error %v", id, o, err)
			}
			if err != nil && errors.Is(err, dlm.ErrSessionExpired) {
				delete(open, o.res)
				continue
			}
			// A failed conversion keeps the old grant (same token, same
			// request time).
			asked := iv.end
			if l.Token() == iv.token {
				asked = iv.asked
			}
			open[o.res] = &interval{client: id, lockID: l.id, res: o.res, mode: l.Mode(), token: l.Token(), asked: asked, start: time.Now()}
		case o.kind == opUnlock && l != nil:
			iv := open[o.res]
			iv.end = time.Now()
			h.add(iv)
			delete(open, o.res)
			delete(held, o.res)
			if err := l.Unlock(ctx); err != nil && !errors.Is(err, dlm.ErrSessionExpired) {
				h.fail("client %d: %v: %v", id, o, err)
			}
		case o.kind == opExpire:
			s.paused.Store(true)
			<-s.Done()
			endAll(<-doneAt)
			if !renew() {
				return
			}
		}
	}
	if !sessionLost() {
		endAll(time.Now())
	}
}

// watchDone returns a channel that yields the time Done fired.
func watchDone(s *Session) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		<-s.Done()
		ch <- time.Now()
	}()
	return ch
}

// checkIntervals is the independent history checker.
func checkIntervals(rt *rapid.T, ivs []*interval) {
	for i, a := range ivs {
		for _, b := range ivs[i+1:] {
			if a.res != b.res || a.lockID == b.lockID {
				continue
			}
			if !dlm.Compatible(a.mode, b.mode) && a.start.Before(b.end) && b.start.Before(a.end) {
				rt.Errorf("incompatible holders of %s: client %d %v (token %d) and client %d %v (token %d) overlap",
					a.res, a.client, a.mode, a.token, b.client, b.mode, b.token)
			}
			// A grant observed before another was asked for has the
			// smaller token.
			if a.token != b.token {
				first, second := a, b
				if b.start.Before(a.asked) {
					first, second = b, a
				}
				if first.start.Before(second.asked) && first.token >= second.token {
					rt.Errorf("token not increasing on %s: %d granted before %d was asked", a.res, first.token, second.token)
				}
			}
		}
	}
}

// checkEtcdHistory replays every revision of the test's keys and checks
// each committed state: granted modes pairwise compatible, grants and
// conversions only on live requests, grant tokens increasing; and at the end
// nothing is left but value blocks.
func checkEtcdHistory(ctx context.Context, rt *rapid.T, cli *clientv3.Client, prefix string, from int64) {
	end, err := cli.Put(ctx, prefix+"~end", "")
	if err != nil {
		rt.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	state := map[string]*mvccpb.KeyValue{}
	lastTok := map[string]int64{}
	var rev int64
	check := func() {
		byRes := map[string][]*mvccpb.KeyValue{}
		for k, kv := range state {
			if i := strings.Index(k, "/q/"); i >= 0 && len(kv.Value) > 1 && kv.Value[1] == qGranted {
				if _, conv := state[strings.Replace(k, "/q/", "/g/", 1)]; !conv {
					byRes[k[:i]] = append(byRes[k[:i]], kv)
				}
			}
			if strings.Contains(k, "/g/") {
				res := k[:strings.Index(k, "/g/")]
				byRes[res] = append(byRes[res], kv)
				if _, ok := state[strings.Replace(k, "/g/", "/q/", 1)]; !ok {
					rt.Errorf("rev %d: grant %s without its request", rev, k)
				}
			}
			if strings.Contains(k, "/c/") {
				if _, ok := state[strings.Replace(k, "/c/", "/q/", 1)]; !ok {
					rt.Errorf("rev %d: conversion %s without a grant", rev, k)
				}
			}
		}
		for res, gs := range byRes {
			sort.Slice(gs, func(i, j int) bool { return string(gs[i].Key) < string(gs[j].Key) })
			for i, a := range gs {
				for _, b := range gs[i+1:] {
					if !dlm.Compatible(dlm.Mode(a.Value[0]), dlm.Mode(b.Value[0])) {
						rt.Errorf("rev %d: %s in %v and %s in %v granted together on %s", rev, a.Key, dlm.Mode(a.Value[0]), b.Key, dlm.Mode(b.Value[0]), res)
					}
				}
			}
		}
	}
	for wr := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1)) {
		if err := wr.Err(); err != nil {
			rt.Fatal(err)
		}
		for _, ev := range wr.Events {
			if ev.Kv.ModRevision != rev && rev != 0 {
				check()
			}
			rev = ev.Kv.ModRevision
			k := string(ev.Kv.Key)
			if ev.Type == mvccpb.DELETE {
				delete(state, k)
				continue
			}
			state[k] = ev.Kv
			if i := strings.Index(k, "/q/"); i >= 0 && len(ev.Kv.Value) > 1 && ev.Kv.Value[1] == qGranted {
				tok := int64(mkToken(ev.Kv.ModRevision, 0))
				if tok <= lastTok[k[:i]] {
					rt.Errorf("fast-path grant token %d on %s not above %d", tok, k[:i], lastTok[k[:i]])
				}
				lastTok[k[:i]] = tok
			}
			if i := strings.Index(k, "/g/"); i >= 0 {
				tok := int64(tokenOf(ev.Kv))
				if tok <= lastTok[k[:i]] {
					rt.Errorf("grant token %d on %s not above %d", tok, k[:i], lastTok[k[:i]])
				}
				lastTok[k[:i]] = tok
			}
		}
		if rev >= end.Header.Revision {
			break
		}
	}
	check()
	for k := range state {
		if !strings.HasSuffix(k, "/lvb") && !strings.HasSuffix(k, "~end") {
			rt.Errorf("key left after every session closed: %s", k)
		}
	}
}
