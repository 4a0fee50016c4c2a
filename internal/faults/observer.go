package faults

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"mdcluster.dev/internal/faults/check"
	"mdcluster.dev/internal/faults/wire"
)

// The host's view of the guests, built from their stream lines as they arrive. Everything is
// stamped with the host's monotonic clock (ns since the campaign started).

// clockBucket is the span of guest monotonic time over which one guest→host clock offset is
// kept: guest clocks under TCG drift from the host's, so the offset is read locally.
const clockBucket = int64(5 * time.Second)

// mapSlack widens a guest time mapped to the host's clock: the stream's latency is not known
// exactly, nor is the drift within a bucket.
const mapSlack = int64(50 * time.Millisecond)

// sampleRead is how long before its monotonic stamp a sample may have read md.
const sampleRead = int64(100 * time.Millisecond)

type observer struct {
	start  time.Time
	h      *histories
	ledger *check.Ledger
	r5     string // md's sysfs UUID of the exclusive array
	r5m    string // mdadm's form (the token log's)

	mu    sync.Mutex
	boots map[[2]int]*bootObs // node, boot
	cur   map[int]int         // node → its current boot
	ops   []check.LockOp
	toks  []check.TokenEvent
	seen  map[string]bool // token lines already taken (a restarted workload sends the log again)
	acks  map[ackKey][]int64
	pause map[int]chan struct{}
}

type ackKey struct {
	node  int
	array string
}

// bootObs is one boot of one node.
type bootObs struct {
	node, boot int
	bootID     string
	clock      map[int64]int64 // bucket of guest mono → min(host − guest)
	tl         check.Timeline
	last       []wire.Active
	lastAt     int64
	prevHolds  *check.LockOp // the last active sample not yet turned into a read
	lastHolds  int64
	inRun      bool // the last sample saw the array running
	ended      bool
}

func newObserver(start time.Time, h *histories, r5sysfs, r5mdadm string) *observer {
	return &observer{start: start, h: h, ledger: check.NewLedger(), r5: r5sysfs, r5m: r5mdadm,
		boots: map[[2]int]*bootObs{}, cur: map[int]int{}, seen: map[string]bool{}, acks: map[ackKey][]int64{},
		pause: map[int]chan struct{}{}}
}

func (o *observer) now() int64 { return int64(time.Since(o.start)) }

func (o *observer) at(t time.Time) int64 { return int64(t.Sub(o.start)) }

func (o *observer) boot(node, boot int) *bootObs {
	k := [2]int{node, boot}
	b := o.boots[k]
	if b == nil {
		b = &bootObs{node: node, boot: boot, clock: map[int64]int64{}, tl: check.Timeline{Node: node, Boot: boot}}
		o.boots[k] = b
		if boot > o.cur[node] {
			o.cur[node] = boot
		}
	}
	return b
}

// line is the lab's StreamFunc.
func (o *observer) line(node, boot int, at time.Time, line []byte) {
	m, err := wire.Parse(line)
	if err != nil {
		return
	}
	t := o.at(at)
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.boot(node, boot)
	if m.Mono > 0 {
		k := m.Mono / clockBucket
		if off, ok := b.clock[k]; !ok || t-m.Mono < off {
			b.clock[k] = t - m.Mono
		}
	}
	switch m.Kind {
	case wire.KindHello:
		b.bootID = m.Boot
		o.h.events.add(map[string]any{"t": t, "node": node, "boot": boot, "event": "workload started", "epoch": m.Epoch})
	case wire.KindSample:
		o.sample(b, t, m)
	case wire.KindIssue:
		o.ledger.Issue(*m.W)
	case wire.KindAck:
		o.ledger.Ack(*m.W)
		k := ackKey{node, m.W.Array}
		o.acks[k] = append(o.acks[k], t)
		o.h.writes.add(map[string]any{"t": t, "node": node, "boot": boot, "ack": m.W})
	case wire.KindWErr:
		o.h.writes.add(map[string]any{"t": t, "node": node, "boot": boot, "failed": m.W, "err": m.Err})
	case wire.KindToken:
		o.token(b, m.Token)
	case wire.KindPaused:
		if ch := o.pause[node]; ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// mapMono maps a guest monotonic time of boot b to the host clock, or false if no line of that
// boot came near it.
func (b *bootObs) mapMono(mono int64) (int64, bool) {
	k := mono / clockBucket
	best, ok := int64(0), false
	for _, kk := range []int64{k - 1, k, k + 1} {
		if off, has := b.clock[kk]; has && (!ok || off < best) {
			best, ok = off, true
		}
	}
	return mono + best, ok
}

func (o *observer) sample(b *bootObs, t int64, m wire.Msg) {
	if gap := t - b.lastAt; b.lastAt > 0 && gap > int64(300*time.Millisecond) {
		o.h.events.add(map[string]any{"t": t, "node": b.node, "boot": b.boot, "event": "sample gap", "gap_ms": gap / 1e6})
	}
	b.lastAt = t
	active := false
	for _, a := range m.Active {
		if a.UUID == o.r5 {
			active = true
		}
	}
	b.tl.Samples = append(b.tl.Samples, check.Sample{At: t, Active: active})
	if !slices.Equal(b.last, m.Active) {
		b.last = m.Active
		o.h.md.add(map[string]any{"t": t, "node": b.node, "boot": b.boot, "active": m.Active})
	}
	lo, _ := b.mapMono(m.Mono)
	read := check.LockOp{Src: "md", Op: check.OpHolds, Node: b.node, At: check.Span{Lo: min(lo-sampleRead, t), Hi: t}}
	switch {
	case active && (!b.inRun || t-b.lastHolds >= int64(time.Second)):
		o.addOp(read) // the first of a run, then one a second
		b.inRun, b.lastHolds, b.prevHolds = true, t, nil
	case active:
		b.prevHolds = &read
	case b.inRun:
		if b.prevHolds != nil {
			o.addOp(*b.prevHolds) // the last of a run
		}
		b.inRun, b.prevHolds = false, nil
	}
}

func (o *observer) addOp(op check.LockOp) {
	o.ops = append(o.ops, op)
	o.h.lock.add(op)
}

type tokenLine struct {
	Event string `json:"event"`
	Array string `json:"array"`
	MD    string `json:"md"`
	Token uint64 `json:"token"`
	Boot  string `json:"boot_id"`
	Mono  int64  `json:"mono_ns"`
	PID   int    `json:"pid"`
}

func (o *observer) token(b *bootObs, raw json.RawMessage) {
	var tl tokenLine
	if json.Unmarshal(raw, &tl) != nil || tl.Array != o.r5m {
		return
	}
	key := string(raw)
	if o.seen[key] {
		return
	}
	o.seen[key] = true
	at, ok := b.mapMono(tl.Mono)
	if !ok || (b.bootID != "" && tl.Boot != b.bootID) {
		o.h.events.add(map[string]any{"node": b.node, "boot": b.boot, "event": "token line of another boot or unmapped", "line": raw})
		return
	}
	ev := check.TokenEvent{Node: b.node, Boot: b.boot, Event: tl.Event, Token: tl.Token, MD: tl.MD,
		At: check.Span{Lo: at - mapSlack, Hi: at + mapSlack}}
	o.toks = append(o.toks, ev)
	o.h.tokens.add(map[string]any{"node": b.node, "boot": b.boot, "at": ev.At, "line": raw})
	switch tl.Event {
	case "granted", "adopted", "assemble":
		o.addOp(check.LockOp{Src: "agent", Op: check.OpHolds, Node: b.node, Token: tl.Token, At: ev.At})
	case "released":
		o.addOp(check.LockOp{Src: "agent", Op: check.OpFree, Node: b.node, Token: tl.Token, At: ev.At})
	}
}

// ended records that a boot ended (the guest exited) at host time t.
func (o *observer) ended(node, boot int, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.boot(node, boot)
	if b.ended {
		return
	}
	b.ended = true
	b.tl.End = o.at(t)
	if b.prevHolds != nil {
		o.addOp(*b.prevHolds)
		b.prevHolds = nil
	}
	o.h.events.add(map[string]any{"t": b.tl.End, "node": node, "boot": boot, "event": "guest exited"})
}

// lockOp records an operation the host saw in etcd.
func (o *observer) lockOp(op check.LockOp) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.addOp(op)
}

// pauseChan returns the channel that receives node's next "paused".
func (o *observer) pauseChan(node int) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := make(chan struct{}, 1)
	o.pause[node] = ch
	return ch
}

// acksSince returns the host times of node's acknowledged writes to array from t on (node 0:
// every node's).
func (o *observer) acksSince(node int, array string, t int64) []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int64
	for k, ts := range o.acks {
		if (node != 0 && k.node != node) || k.array != array {
			continue
		}
		i, _ := slices.BinarySearch(ts, t)
		out = append(out, ts[i:]...)
	}
	slices.Sort(out)
	return out
}

// active returns the md arrays node's current boot last reported, and when.
func (o *observer) active(node int) ([]wire.Active, int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.boots[[2]int{node, o.cur[node]}]
	if b == nil {
		return nil, 0
	}
	return b.last, b.lastAt
}

// timelines returns every boot's md samples (a running boot ends now) and the ends of the
// boots that ended.
func (o *observer) timelines() ([]check.Timeline, []check.BootEnd) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var tls []check.Timeline
	var ends []check.BootEnd
	for _, b := range o.boots {
		t := b.tl
		t.Samples = slices.Clone(b.tl.Samples)
		if !b.ended {
			t.End = now
		} else {
			ends = append(ends, check.BootEnd{Node: b.node, Boot: b.boot, End: b.tl.End})
		}
		tls = append(tls, t)
	}
	return tls, ends
}

// tokens returns the token-log events so far.
func (o *observer) tokens() []check.TokenEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.toks)
}

// lockOps returns the lock history so far.
func (o *observer) lockOps() []check.LockOp {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ops)
}
