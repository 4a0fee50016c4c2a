package dlmtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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
	kind  opKind
	res   string
	mode  dlm.Mode
	stall bool // opExpire: let the session lapse (Harness.Stall) rather than expire it at once
}

func (o op) String() string {
	return fmt.Sprintf("%s(%s,%v)", [...]string{"lock", "try", "convert", "unlock", "expire"}[o.kind], o.res, o.mode)
}

// interval is one observed hold: it starts after the grant was returned and ends before the
// release was asked for (or when the session's Done fired), so it lies within the real hold.
type interval struct {
	client     int
	lock       int // the lock object (conversions keep it)
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

// testProperty: random concurrent locks, conversions, unlocks and session expiries from five
// clients never leave two incompatible holders, fencing tokens increase per resource, and every
// request ends granted or with a reason.
func testProperty(t *testing.T, h Harness) {
	setChecks(h.Checks)
	resources := []string{"a", "b"}
	modes := []dlm.Mode{dlm.NL, dlm.CR, dlm.CW, dlm.PR, dlm.PW, dlm.EX}
	genOp := rapid.Custom(func(rt *rapid.T) op {
		k := rapid.SampledFrom([]opKind{opLock, opLock, opTry, opConvert, opConvert, opUnlock, opUnlock, opExpire}).Draw(rt, "kind")
		o := op{kind: k, res: rapid.SampledFrom(resources).Draw(rt, "res"), mode: rapid.SampledFrom(modes).Draw(rt, "mode")}
		if k == opExpire && h.Stall != nil {
			o.stall = rapid.Bool().Draw(rt, "stall")
		}
		return o
	})
	rapid.Check(t, func(rt *rapid.T) {
		plans := make([][]op, 5)
		for i := range plans {
			plans[i] = rapid.SliceOfN(genOp, 2, 7).Draw(rt, fmt.Sprintf("client%d", i))
			// At most one expiry per client: a lapse costs a TTL.
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
		c := h.NewCluster(t, len(plans))
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		hist := &history{}
		var lockSeq sync.Mutex
		nextLock := 0
		newLock := func() int { lockSeq.Lock(); defer lockSeq.Unlock(); nextLock++; return nextLock }
		var wg sync.WaitGroup
		for i, plan := range plans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &client{t: t, h: h, hist: hist, e: c.Engines[i], id: i, newLock: newLock}
				cl.run(ctx, plan)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			rt.Fatalf("clients did not finish: a request was neither granted nor refused")
		}
		for _, b := range hist.bad {
			rt.Error(b)
		}
		checkIntervals(rt, hist.ivs)
		if c.Verify != nil {
			c.Verify(rt)
		}
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

// client executes one client's plan, recording hold intervals.
type client struct {
	t       *testing.T
	h       Harness
	hist    *history
	e       dlm.Engine
	id      int
	newLock func() int

	s      dlm.Session
	doneAt <-chan time.Time
	held   map[string]dlm.Lock
	open   map[string]*interval
}

func (c *client) openSession(ctx context.Context) bool {
	s, err := c.e.NewSession(ctx, dlm.WithTTL(c.h.TTL))
	if err != nil {
		c.hist.fail("client %d: open: %v", c.id, err)
		return false
	}
	c.s, c.doneAt = s, watchDone(s)
	return true
}

// endAll closes every open interval at the moment the session's Done fired.
func (c *client) endAll(at time.Time) {
	for k, iv := range c.open {
		iv.end = at
		c.hist.add(iv)
		delete(c.open, k)
	}
	clear(c.held)
}

func (c *client) sessionLost() bool {
	select {
	case <-c.s.Done():
		c.endAll(<-c.doneAt)
		return true
	default:
		return false
	}
}

func (c *client) renew(ctx context.Context) bool {
	c.s.Close()
	return c.openSession(ctx)
}

func allowed(err error) bool {
	return errors.Is(err, dlm.ErrWouldBlock) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, dlm.ErrSessionExpired) || errors.Is(err, dlm.ErrDeadlock)
}

func (c *client) run(ctx context.Context, plan []op) {
	c.held, c.open = map[string]dlm.Lock{}, map[string]*interval{}
	if !c.openSession(ctx) {
		return
	}
	defer func() { c.s.Close() }()
	for _, o := range plan {
		if c.sessionLost() && !c.renew(ctx) {
			return
		}
		if !c.step(ctx, o) {
			return
		}
	}
	if !c.sessionLost() {
		c.endAll(time.Now())
	}
}

func (c *client) step(ctx context.Context, o op) bool {
	l := c.held[o.res]
	switch {
	case (o.kind == opLock || o.kind == opTry) && l == nil:
		asked := time.Now()
		octx, cancel := context.WithTimeout(ctx, c.h.OpTimeout)
		var err error
		if o.kind == opLock {
			l, err = c.s.Lock(octx, o.res, o.mode)
		} else {
			l, err = c.s.TryLock(octx, o.res, o.mode)
		}
		cancel()
		if err != nil {
			if !allowed(err) {
				c.hist.fail("client %d: %v: unexpected error %v", c.id, o, err)
			}
			return true
		}
		c.held[o.res] = l
		c.open[o.res] = &interval{client: c.id, lock: c.newLock(), res: o.res, mode: l.Mode(), token: l.Token(), asked: asked, start: time.Now()}
	case o.kind == opConvert && l != nil:
		iv := c.open[o.res]
		iv.end = time.Now()
		c.hist.add(iv)
		octx, cancel := context.WithTimeout(ctx, c.h.OpTimeout)
		err := l.Convert(octx, o.mode)
		cancel()
		if err != nil && !allowed(err) {
			c.hist.fail("client %d: %v: unexpected error %v", c.id, o, err)
		}
		if err != nil && errors.Is(err, dlm.ErrSessionExpired) {
			delete(c.open, o.res)
			delete(c.held, o.res)
			return true
		}
		// A failed conversion keeps the old grant (same token, same request time).
		asked := iv.end
		if l.Token() == iv.token {
			asked = iv.asked
		}
		c.open[o.res] = &interval{client: c.id, lock: iv.lock, res: o.res, mode: l.Mode(), token: l.Token(), asked: asked, start: time.Now()}
	case o.kind == opUnlock && l != nil:
		iv := c.open[o.res]
		iv.end = time.Now()
		c.hist.add(iv)
		delete(c.open, o.res)
		delete(c.held, o.res)
		if err := l.Unlock(ctx); err != nil && !errors.Is(err, dlm.ErrSessionExpired) {
			c.hist.fail("client %d: %v: %v", c.id, o, err)
		}
	case o.kind == opExpire:
		if o.stall {
			// The session lapses through the engine's own path: Done closes TTL/5 or more
			// before the service frees the locks, far more than watchDone may lag.
			c.h.Stall(c.t, c.s)
			<-c.s.Done()
			c.endAll(<-c.doneAt)
		} else {
			// Expire frees the locks right after Done: the holds end before the call.
			at := time.Now()
			c.h.Expire(c.t, c.s)
			<-c.doneAt
			c.endAll(at)
		}
		return c.renew(ctx)
	}
	return true
}

// watchDone returns a channel that yields the time Done fired.
func watchDone(s dlm.Session) <-chan time.Time {
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
			if a.res != b.res || a.lock == b.lock {
				continue
			}
			if !dlm.Compatible(a.mode, b.mode) && a.start.Before(b.end) && b.start.Before(a.end) {
				rt.Errorf("incompatible holders of %s: client %d %v (token %d) and client %d %v (token %d) overlap",
					a.res, a.client, a.mode, a.token, b.client, b.mode, b.token)
			}
			// A grant observed before another was asked for has the smaller token.
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
