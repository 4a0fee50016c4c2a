package check

import (
	"fmt"
	"sort"
)

// Sample is one look at md on one node: whether the exclusive array ran there, read at At
// (host time the sample arrived).
type Sample struct {
	At     int64
	Active bool
}

// Timeline is one boot of one node: its samples in order, and End, the host time the boot
// ended (the guest exited) or the last time it was seen alive.
type Timeline struct {
	Node, Boot int
	Samples    []Sample
	End        int64
}

// ActiveSpans returns the spans in which the array may have run on the node: from a sample that
// saw it active to the next sample that did not (or the end of the boot). A span is as long as
// the sampling leaves open, never shorter.
func (t Timeline) ActiveSpans() []Span {
	var out []Span
	var cur *Span
	for _, s := range t.Samples {
		switch {
		case s.Active && cur == nil:
			cur = &Span{Lo: s.At}
		case !s.Active && cur != nil:
			cur.Hi = s.At
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		cur.Hi = t.End
		out = append(out, *cur)
	}
	return out
}

// MaxGap is the longest time between two samples of the timeline, or between its last sample
// and End.
func (t Timeline) MaxGap() int64 {
	var g int64
	for i := 1; i < len(t.Samples); i++ {
		g = max(g, t.Samples[i].At-t.Samples[i-1].At)
	}
	if n := len(t.Samples); n > 0 {
		g = max(g, t.End-t.Samples[n-1].At)
	}
	return g
}

// Exclusive reports every pair of spans of different nodes in which the exclusive array may
// have run at the same time.
func Exclusive(tls []Timeline) []Violation {
	type span struct {
		Span
		node, boot int
	}
	var all []span
	for _, t := range tls {
		for _, s := range t.ActiveSpans() {
			all = append(all, span{s, t.Node, t.Boot})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Lo < all[j].Lo })
	var out []Violation
	for i := range all {
		for j := i + 1; j < len(all) && all[j].Lo <= all[i].Hi; j++ {
			if all[j].node == all[i].node {
				continue
			}
			out = append(out, Violation{Check: "exclusive", At: all[j].Lo, What: fmt.Sprintf(
				"node%d (boot %d) ran the array from %.3fs to %.3fs, node%d (boot %d) from %.3fs to %.3fs",
				all[i].node, all[i].boot, sec(all[i].Lo), sec(all[i].Hi), all[j].node, all[j].boot, sec(all[j].Lo), sec(all[j].Hi))})
		}
	}
	return out
}

func sec(ns int64) float64 { return float64(ns) / 1e9 }
