// Package check holds the fault campaign's checkers. Each one reads a history the host recorded
// (times in ns on the host's monotonic clock, since the campaign started) and returns the
// violations it finds; none of them trusts what the agent says about itself: they compare the
// agents' records with md as sampled on every node and with the lock service as the host saw it.
package check

import "fmt"

// Violation is one broken invariant, with the time it was seen.
type Violation struct {
	Check string `json:"check"`
	At    int64  `json:"at_ns"`
	What  string `json:"what"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s at %.3fs: %s", v.Check, float64(v.At)/1e9, v.What)
}

// Span is a closed interval of host time.
type Span struct{ Lo, Hi int64 }
