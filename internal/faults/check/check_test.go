package check

import (
	"mdcluster.dev/internal/faults/wire"
	"strings"
	"testing"
	"time"
)

const s = int64(time.Second)

func tl(node int, end int64, active ...[2]int64) Timeline {
	t := Timeline{Node: node, Boot: 1, End: end}
	for at := int64(0); at <= end; at += s / 10 {
		on := false
		for _, a := range active {
			if at >= a[0] && at < a[1] {
				on = true
			}
		}
		t.Samples = append(t.Samples, Sample{At: at, Active: on})
	}
	return t
}

func TestExclusive(t *testing.T) {
	// node1 runs it until 5 s, node2 from 8 s: no overlap.
	ok := []Timeline{tl(1, 20*s, [2]int64{1 * s, 5 * s}), tl(2, 20*s, [2]int64{8 * s, 20 * s})}
	if v := Exclusive(ok); len(v) != 0 {
		t.Fatalf("handover flagged: %v", v)
	}
	// node2 starts at 4.95 s while node1 runs until 5 s: the spans overlap.
	bad := []Timeline{tl(1, 20*s, [2]int64{1 * s, 5 * s}), tl(2, 20*s, [2]int64{4950 * 1e6, 20 * s})}
	if v := Exclusive(bad); len(v) != 1 || !strings.Contains(v[0].What, "node1") {
		t.Fatalf("overlap: %v", v)
	}
	// A crashed node's span ends with its boot.
	crashed := tl(1, 5*s, [2]int64{1 * s, 6 * s})
	if sp := crashed.ActiveSpans(); len(sp) != 1 || sp[0].Hi != 5*s {
		t.Fatalf("spans %v", sp)
	}
	if g := crashed.MaxGap(); g != s/10 {
		t.Fatalf("max gap %d", g)
	}
}

func ev(node int, event string, tok uint64, at int64) TokenEvent {
	return TokenEvent{Node: node, Boot: 1, Event: event, Token: tok, At: Span{at - s/20, at + s/20}}
}

func TestTokens(t *testing.T) {
	good := []TokenEvent{ev(1, "granted", 10, 1*s), ev(1, "assemble", 12, 2*s), ev(1, "stopped", 0, 5*s),
		ev(1, "released", 12, 5*s+s/5), ev(2, "granted", 20, 6*s), ev(2, "assemble", 22, 7*s)}
	if v := Tokens(good, nil); len(v) != 0 {
		t.Fatalf("clean handover flagged: %v", v)
	}
	// node1 crashed at 8 s without a stop; node2 was granted only after: fine.
	crash := []TokenEvent{ev(1, "granted", 10, 1*s), ev(1, "assemble", 12, 2*s), ev(2, "granted", 20, 9*s), ev(2, "assemble", 22, 10*s)}
	if v := Tokens(crash, []BootEnd{{Node: 1, Boot: 1, End: 8 * s}}); len(v) != 0 {
		t.Fatalf("crash handover flagged: %v", v)
	}
	for name, c := range map[string]struct {
		evs  []TokenEvent
		ends []BootEnd
		want string
	}{
		"granted while running": {crash, []BootEnd{{Node: 1, Boot: 1, End: 12 * s}}, "had not stopped"},
		"token going back":      {[]TokenEvent{ev(1, "granted", 10, 1*s), ev(2, "granted", 9, 3*s)}, nil, "after node1 was granted 10"},
		"stale assembly": {[]TokenEvent{ev(1, "granted", 10, 1*s), ev(2, "granted", 20, 3*s), ev(1, "assemble", 12, 4*s)},
			nil, "after node2 had been granted 20"},
		"never granted": {[]TokenEvent{ev(1, "assemble", 12, 4*s)}, nil, "never shows"},
	} {
		v := Tokens(c.evs, c.ends)
		if len(v) == 0 || !strings.Contains(v[0].String(), c.want) {
			t.Errorf("%s: %v, want %q", name, v, c.want)
		}
	}
}

func op(src, kind string, node int, tok uint64, lo, hi int64) LockOp {
	return LockOp{Src: src, Op: kind, Node: node, Token: tok, At: Span{lo, hi}}
}

func TestLinearizable(t *testing.T) {
	ms := int64(time.Millisecond)
	handover := []LockOp{
		op("etcd", OpAcquire, 1, 10, 900*ms, 1000*ms),
		op("agent", OpHolds, 1, 10, 1050*ms, 1150*ms), // node1 logs its grant
		op("etcd", OpConvert, 1, 12, 1100*ms, 1200*ms),
		op("agent", OpHolds, 1, 12, 1300*ms, 1400*ms), // and its assembly
		op("md", OpHolds, 1, 0, 2000*ms, 2100*ms),
		op("md", OpHolds, 1, 0, 4900*ms, 5000*ms),
		op("agent", OpFree, 1, 12, 5300*ms, 5400*ms),
		op("etcd", OpRelease, 1, 12, 5200*ms, 5300*ms),
		op("etcd", OpAcquire, 2, 20, 5200*ms, 5300*ms),
		op("agent", OpHolds, 2, 20, 5350*ms, 5450*ms),
		op("md", OpHolds, 2, 0, 7000*ms, 7100*ms),
	}
	if r, v := Linearizable(handover, 10*time.Second); r.Result != "ok" || len(v) != 0 {
		t.Fatalf("handover: %+v %v", r, v)
	}
	// node1's md still runs the array after etcd gave the lease to node2.
	stale := append(append([]LockOp{}, handover...), op("md", OpHolds, 1, 0, 6000*ms, 6100*ms))
	r, v := Linearizable(stale, 10*time.Second)
	if r.Result != "illegal" || len(v) != 1 {
		t.Fatalf("stale holder: %+v %v", r, v)
	}
	// A token that goes back.
	back := []LockOp{op("etcd", OpAcquire, 1, 10, 0, 1), op("etcd", OpRelease, 1, 10, 2, 3), op("etcd", OpAcquire, 2, 5, 4, 5)}
	if r, _ := Linearizable(back, 10*time.Second); r.Result != "illegal" {
		t.Fatalf("token going back: %+v", r)
	}
}

func TestLedger(t *testing.T) {
	l := NewLedger()
	w := func(seq int64, slot int) wire.Write {
		return wire.Write{Array: "r10", Node: 1, Round: 1, Epoch: 1, Seq: seq, Slot: slot}
	}
	l.Issue(w(0, 0))
	l.Ack(w(0, 0))
	l.Issue(w(1, 1))
	l.Ack(w(1, 1))
	l.Issue(w(2, 0)) // in flight at a crash
	l.Issue(w(3, 2)) // in flight, never acked, slot 2 never written before
	ok := []wire.BlockResult{{Slot: 0, Writes: []wire.Write{w(2, 0), w(0, 0)}}, {Slot: 1, Writes: []wire.Write{w(1, 1)}}}
	if n, v := l.Verify("r10", 1, ok); n != 2 || len(v) != 0 {
		t.Fatalf("torn in-flight write over an acked one: %d %v", n, v)
	}
	for name, c := range map[string]struct {
		blocks []wire.BlockResult
		want   string
	}{
		"lost":     {[]wire.BlockResult{{Slot: 0, Writes: []wire.Write{w(0, 0)}}}, "slot 1: acknowledged write e1/s1 (round 1) is gone"},
		"older":    {[]wire.BlockResult{{Slot: 0, Writes: []wire.Write{w(0, 0)}}, {Slot: 1, Writes: []wire.Write{w(0, 0)}}}, "slot 1: holds e1/s0"},
		"corrupt":  {[]wire.BlockResult{{Slot: 0, Err: "bad"}, {Slot: 1, Writes: []wire.Write{w(1, 1)}}}, "corrupt"},
		"stranger": {[]wire.BlockResult{{Slot: 0, Writes: []wire.Write{w(0, 0)}}, {Slot: 1, Writes: []wire.Write{w(1, 1)}}, {Slot: 9, Writes: []wire.Write{w(9, 9)}}}, "no write to it"},
	} {
		_, v := l.Verify("r10", 1, c.blocks)
		if len(v) != 1 || !strings.Contains(v[0].What, c.want) {
			t.Errorf("%s: %v, want %q", name, v, c.want)
		}
	}
}
