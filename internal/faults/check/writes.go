package check

import (
	"fmt"
	"sync"

	"mdcluster.dev/internal/faults/wire"
)

// Ledger is every block write the host heard of, per node region and slot: the last one md
// acknowledged, and those issued after it whose outcome is unknown (in flight when the node
// crashed, or failed). A read-back of a slot must find the acknowledged write or a later one —
// whole, or torn between such writes at sector boundaries — and nothing else.
type Ledger struct {
	mu      sync.Mutex
	regions map[regionKey]map[int]*slotState
	acks    int
}

type regionKey struct {
	array string
	node  int
}

type slotState struct {
	acked   *wire.Write
	pending []wire.Write
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{regions: map[regionKey]map[int]*slotState{}} }

func (l *Ledger) slot(w wire.Write) *slotState {
	k := regionKey{w.Array, w.Node}
	r := l.regions[k]
	if r == nil {
		r = map[int]*slotState{}
		l.regions[k] = r
	}
	s := r[w.Slot]
	if s == nil {
		s = &slotState{}
		r[w.Slot] = s
	}
	return s
}

// Issue records a write about to be submitted.
func (l *Ledger) Issue(w wire.Write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slot(w)
	s.pending = append(s.pending, w)
}

// Ack records that md acknowledged w: older writes to the slot can no longer be read back.
func (l *Ledger) Ack(w wire.Write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	s := l.slot(w)
	if s.acked != nil && !s.acked.Less(w) {
		return
	}
	s.acked = &w
	keep := s.pending[:0]
	for _, p := range s.pending {
		if w.Less(p) {
			keep = append(keep, p)
		}
	}
	s.pending = keep
}

// Acks is how many acknowledged writes the ledger holds.
func (l *Ledger) Acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

// Verify compares a read-back of node's region of array (the blocks that were not empty) with
// the ledger. It returns the number of slots holding an acknowledged write and the violations:
// an acknowledged write missing, older than acknowledged, torn with something else, corrupt, or
// a block no write the host heard of made.
func (l *Ledger) Verify(array string, node int, blocks []wire.BlockResult) (int, []Violation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	region := l.regions[regionKey{array, node}]
	found := map[int]wire.BlockResult{}
	for _, b := range blocks {
		found[b.Slot] = b
	}
	var out []Violation
	bad := func(slot int, f string, a ...any) {
		out = append(out, Violation{Check: "writes", What: fmt.Sprintf("%s node%d slot %d: ", array, node, slot) + fmt.Sprintf(f, a...)})
	}
	acked := 0
	for slot, s := range region {
		if s.acked != nil {
			acked++
		}
		b, ok := found[slot]
		switch {
		case !ok && s.acked != nil:
			bad(slot, "acknowledged write e%d/s%d (round %d) is gone: the block reads as zeros", s.acked.Epoch, s.acked.Seq, s.acked.Round)
		case ok && b.Err != "":
			bad(slot, "corrupt block (%s); last acknowledged e%d/s%d", b.Err, ackedEpoch(s), ackedSeq(s))
		case ok:
			for _, w := range b.Writes {
				if !s.allowed(w) {
					bad(slot, "holds e%d/s%d (round %d) of node%d/%s, the last acknowledged write being e%d/s%d", w.Epoch, w.Seq, w.Round, w.Node, w.Array, ackedEpoch(s), ackedSeq(s))
				}
			}
		}
	}
	for slot, b := range found {
		if _, ok := region[slot]; !ok {
			bad(slot, "holds data (%v %s) though no write to it was issued", b.Writes, b.Err)
		}
	}
	return acked, out
}

func (s *slotState) allowed(w wire.Write) bool {
	if s.acked != nil && *s.acked == w {
		return true
	}
	for _, p := range s.pending {
		if p == w {
			return true
		}
	}
	return false
}

func ackedEpoch(s *slotState) int {
	if s.acked == nil {
		return 0
	}
	return s.acked.Epoch
}

func ackedSeq(s *slotState) int64 {
	if s.acked == nil {
		return -1
	}
	return s.acked.Seq
}
