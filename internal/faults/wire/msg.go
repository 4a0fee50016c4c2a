package wire

import "encoding/json"

// Kinds of stream lines.
const (
	KindHello  = "hello"  // the workload started: Boot, Epoch
	KindSample = "sample" // md as it is now: Active
	KindIssue  = "issue"  // a write is about to be submitted: W
	KindAck    = "ack"    // md acknowledged the write: W
	KindWErr   = "werr"   // the write failed: W, Err
	KindToken  = "token"  // a line of the agent's fencing-token log: Token
	KindPaused = "paused" // every writer is idle until resumed
	KindResume = "resume" // writers run again, in Round
)

// Msg is one line of a guest's stream. Mono is the guest's CLOCK_MONOTONIC when it was made (the
// clock the agent's token log uses too); the host stamps its own time when it reads it.
type Msg struct {
	Kind   string          `json:"k"`
	Mono   int64           `json:"m"`
	Boot   string          `json:"b,omitempty"`
	Epoch  int             `json:"e,omitempty"`
	Round  int             `json:"r,omitempty"`
	W      *Write          `json:"w,omitempty"`
	Err    string          `json:"err,omitempty"`
	Active []Active        `json:"act,omitempty"`
	Token  json.RawMessage `json:"t,omitempty"`
}

// Active is an md array running on the node (not inactive, not cleared).
type Active struct {
	UUID  string `json:"u"` // md's sysfs uuid (8-4-4-4-12 form)
	MD    string `json:"md"`
	State string `json:"st"`
}

// Parse decodes one stream line.
func Parse(line []byte) (Msg, error) {
	var m Msg
	err := json.Unmarshal(line, &m)
	return m, err
}

// BlockResult is what a read-back found in one block that is not empty (one JSON line of
// `mdlab verify`).
type BlockResult struct {
	Slot   int     `json:"o"`
	Writes []Write `json:"w,omitempty"`
	Err    string  `json:"err,omitempty"`
}
