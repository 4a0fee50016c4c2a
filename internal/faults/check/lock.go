package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Lock history operations on one activation lease. The lock service's own changes, as the host
// saw them in etcd, are the writes; every other observer's view is a read that must fit them:
//
//	acquire  node was granted the lease with token (etcd: a grant key appeared)
//	convert  the holder's grant was rewritten with a new token (EX→PW)
//	release  the lease left node (unlock, or its session's lease expired)
//	holds    an agent logged a grant, adoption or assembly with token (0: any token — md on
//	         the node ran the array, as sampled)
//	free     an agent logged that it gave the lease with token back
const (
	OpAcquire = "acquire"
	OpConvert = "convert"
	OpRelease = "release"
	OpHolds   = "holds"
	OpFree    = "free"
)

// LockOp is one operation of the lock history, with the span of host time it took effect in.
type LockOp struct {
	Src   string `json:"src"` // etcd, agent, md
	Op    string `json:"op"`
	Node  int    `json:"node"`
	Token uint64 `json:"token,omitempty"`
	At    Span   `json:"at"`
	// Lease is the etcd lease of an etcd operation: its node, if not known when the host saw
	// it, is resolved from the member keys later.
	Lease int64 `json:"lease,omitempty"`
}

// lockState is the lease as the sequential specification sees it: its holder (0: free), the
// tokens of the holder's tenure (comma separated) and the highest token ever granted.
type lockState struct {
	Holder int
	Tenure string
	Max    uint64
}

func (s lockState) inTenure(tok uint64) bool {
	return slices.Contains(strings.Split(s.Tenure, ","), strconv.FormatUint(tok, 10))
}

func lockStep(st, in any) (bool, any) {
	s, op := st.(lockState), in.(LockOp)
	tok := strconv.FormatUint(op.Token, 10)
	switch op.Op {
	case OpAcquire:
		return s.Holder == 0 && op.Token > s.Max, lockState{Holder: op.Node, Tenure: tok, Max: op.Token}
	case OpConvert:
		return s.Holder == op.Node && op.Token > s.Max, lockState{Holder: op.Node, Tenure: s.Tenure + "," + tok, Max: op.Token}
	case OpRelease:
		return s.Holder == op.Node && s.inTenure(op.Token), lockState{Max: s.Max}
	case OpHolds:
		return s.Holder == op.Node && (op.Token == 0 || s.inTenure(op.Token)), s
	case OpFree:
		return !(s.Holder == op.Node && s.inTenure(op.Token)), s
	}
	return false, s
}

// LockModel is the activation lease's sequential specification for porcupine.
var LockModel = porcupine.Model{
	Init: func() any { return lockState{} },
	Step: func(st, in, _ any) (bool, any) { return lockStep(st, in) },
	DescribeOperation: func(in, _ any) string {
		op := in.(LockOp)
		return fmt.Sprintf("%s %s node%d token %d", op.Src, op.Op, op.Node, op.Token)
	},
	DescribeState: func(st any) string {
		s := st.(lockState)
		return fmt.Sprintf("holder node%d tokens [%s]", s.Holder, s.Tenure)
	},
}

// LockResult is the outcome of a linearizability check.
type LockResult struct {
	Ops    int    `json:"ops"`
	Result string `json:"result"` // ok, illegal, unknown (timed out)
	Took   string `json:"took"`
}

// Linearizable checks that the lock history is linearizable against LockModel. Each node's
// reads are one client; the lock service is another.
func Linearizable(ops []LockOp, timeout time.Duration) (LockResult, []Violation) {
	hist := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		client := op.Node
		if op.Src == "etcd" {
			client = 0
		}
		hist[i] = porcupine.Operation{ClientId: client, Input: op, Call: op.At.Lo, Return: op.At.Hi}
	}
	t0 := time.Now()
	res, info := porcupine.CheckOperationsVerbose(LockModel, hist, timeout)
	r := LockResult{Ops: len(ops), Took: time.Since(t0).Round(time.Millisecond).String()}
	switch res {
	case porcupine.Ok:
		r.Result = "ok"
		return r, nil
	case porcupine.Unknown:
		r.Result = "unknown"
		return r, nil
	}
	r.Result = "illegal"
	return r, []Violation{{Check: "lock-linearizable", At: firstUnlinearized(info, hist), What: describeIllegal(info, hist)}}
}

// firstUnlinearized is the start of the first operation the longest partial linearization
// could not place.
func firstUnlinearized(info porcupine.LinearizationInfo, hist []porcupine.Operation) int64 {
	placed := map[int]bool{}
	for _, part := range info.PartialLinearizations() {
		for _, lin := range part {
			for _, i := range lin {
				placed[i] = true
			}
		}
	}
	at := int64(-1)
	for i, op := range hist {
		if !placed[i] && (at < 0 || op.Call < at) {
			at = op.Call
		}
	}
	return at
}

func describeIllegal(info porcupine.LinearizationInfo, hist []porcupine.Operation) string {
	at := firstUnlinearized(info, hist)
	var near []string
	for _, op := range hist {
		if op.Call >= at-2e9 && op.Call <= at+2e9 && len(near) < 12 {
			o := op.Input.(LockOp)
			near = append(near, fmt.Sprintf("[%.3f,%.3f] %s %s node%d tok %d", sec(op.Call), sec(op.Return), o.Src, o.Op, o.Node, o.Token))
		}
	}
	return "no linearization; operations near the first that fits none: " + strings.Join(near, "; ")
}
