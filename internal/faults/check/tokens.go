package check

import (
	"fmt"
	"sort"
)

// TokenEvent is a line of a node's fencing-token log, its guest monotonic time mapped to a span
// of host time.
type TokenEvent struct {
	Node, Boot int
	Event      string // granted, adopted, assemble, stopped, released
	Token      uint64
	MD         string
	At         Span
}

// BootEnd is when a node's boot ended (host time; the guest exited), or 0 while it runs.
type BootEnd struct {
	Node, Boot int
	End        int64
}

// Tokens checks the fencing-token logs of every node for one exclusive array:
//   - grants: a grant seen after another (their spans do not overlap) has a higher token;
//   - an assembly uses a token this node was granted, and no other node had been granted a
//     higher token before it (a stale holder acting);
//   - from an assembly until the array's stop on that node (or the end of that boot), no other
//     node is granted the lease or assembles.
func Tokens(evs []TokenEvent, ends []BootEnd) []Violation {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Lo < evs[j].At.Lo })
	var out []Violation
	out = append(out, grantOrder(evs)...)
	out = append(out, staleAssemblies(evs)...)
	out = append(out, openAssemblies(evs, ends)...)
	return out
}

func grantOrder(evs []TokenEvent) []Violation {
	var out []Violation
	var grants []TokenEvent
	for _, e := range evs {
		if e.Event == "granted" {
			grants = append(grants, e)
		}
	}
	for i := range grants {
		for j := i + 1; j < len(grants); j++ {
			a, b := grants[i], grants[j]
			if a.At.Hi < b.At.Lo && b.Token <= a.Token {
				out = append(out, Violation{Check: "tokens", At: b.At.Lo, What: fmt.Sprintf(
					"node%d was granted token %d after node%d was granted %d", b.Node, b.Token, a.Node, a.Token)})
			}
		}
	}
	return out
}

func staleAssemblies(evs []TokenEvent) []Violation {
	var out []Violation
	for i, e := range evs {
		if e.Event != "assemble" {
			continue
		}
		mine := false
		for _, g := range evs[:i] {
			if g.Node == e.Node && g.Boot == e.Boot && (g.Event == "granted" || g.Event == "adopted") && g.Token <= e.Token {
				mine = true
			}
			if g.Node != e.Node && g.Event == "granted" && g.Token > e.Token && g.At.Hi < e.At.Lo {
				out = append(out, Violation{Check: "tokens", At: e.At.Lo, What: fmt.Sprintf(
					"node%d assembled with token %d after node%d had been granted %d", e.Node, e.Token, g.Node, g.Token)})
			}
		}
		if !mine {
			out = append(out, Violation{Check: "tokens", At: e.At.Lo, What: fmt.Sprintf(
				"node%d assembled with token %d, which its log never shows it was granted", e.Node, e.Token)})
		}
	}
	return out
}

func openAssemblies(evs []TokenEvent, ends []BootEnd) []Violation {
	end := map[[2]int]int64{}
	for _, b := range ends {
		end[[2]int{b.Node, b.Boot}] = b.End
	}
	var out []Violation
	for i, a := range evs {
		if a.Event != "assemble" {
			continue
		}
		until := end[[2]int{a.Node, a.Boot}] // 0: the boot still runs
		for _, s := range evs[i+1:] {
			if s.Node == a.Node && s.Boot == a.Boot && s.Event == "stopped" {
				until = s.At.Hi
				break
			}
		}
		for _, o := range evs {
			if o.Node == a.Node || (o.Event != "granted" && o.Event != "assemble") {
				continue
			}
			if o.At.Lo > a.At.Hi && (until == 0 || o.At.Hi < until) {
				out = append(out, Violation{Check: "tokens", At: o.At.Lo, What: fmt.Sprintf(
					"node%d %s token %d while node%d's assembly with token %d had not stopped", o.Node, verb(o.Event), o.Token, a.Node, a.Token)})
			}
		}
	}
	return out
}

func verb(ev string) string {
	if ev == "granted" {
		return "was granted"
	}
	return "assembled with"
}
