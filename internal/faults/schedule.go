package faults

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is a fault the campaign injects.
type Kind string

// The faults, drawn by the seed.
const (
	Crash       Kind = "crash"       // the node's kernel panics (sysrq c): a power cut
	KillAgent   Kind = "kill9"       // kill -9 of the agent, restarted after Delay
	PauseAgent  Kind = "sigstop"     // SIGSTOP of the agent for longer than the TTL, then SIGCONT
	NetCut      Kind = "netcut"      // every link of the node down for longer than the TTL, then up
	CleanStop   Kind = "cleanstop"   // SIGTERM to the agent under load, restarted after Delay (or never)
	EtcdRestart Kind = "etcdrestart" // the host etcd stops for Delay, then starts on its data
	DiskFail    Kind = "diskfail"    // a member fails (mdadm --fail), is removed and re-added
	RebootAll   Kind = "rebootall"   // every node crashes at once and boots again
	noRestart        = -1 * time.Second
)

// Kinds lists every fault, in the order the seed draws from.
var Kinds = []Kind{Crash, KillAgent, PauseAgent, NetCut, CleanStop, EtcdRestart, DiskFail, RebootAll}

// Role picks the node a fault hits, resolved when it is injected: the holder of the exclusive
// array, another node, or any.
type Role string

const (
	Holder Role = "holder"
	Other  Role = "other"
	Any    Role = "any"
)

// Fault is one round's fault as the seed drew it.
type Fault struct {
	Round  int           `json:"round"`
	Kind   Kind          `json:"kind"`
	Role   Role          `json:"role"`
	Delay  time.Duration `json:"delay"`           // kill9, cleanstop: restart delay (<0: none); etcd: downtime; disk: fail→remove
	Array  string        `json:"array,omitempty"` // diskfail: r10 or r5
	Member int           `json:"member"`          // diskfail: which member (0..2)
	Warmup time.Duration `json:"warmup"`          // writes before the fault
}

func (f Fault) String() string {
	s := fmt.Sprintf("round %d: %s on %s node", f.Round, f.Kind, f.Role)
	switch f.Kind {
	case KillAgent, CleanStop:
		if f.Delay < 0 {
			return s + ", agent not restarted"
		}
		return s + fmt.Sprintf(", agent restarted after %s", f.Delay)
	case EtcdRestart:
		return fmt.Sprintf("round %d: etcd down for %s", f.Round, f.Delay)
	case DiskFail:
		return s + fmt.Sprintf(", %s member %d, removed %s after failing", f.Array, f.Member, f.Delay)
	case RebootAll:
		return fmt.Sprintf("round %d: every node crashes at once", f.Round)
	}
	return s
}

// Draw returns round's fault for seed. It depends on nothing else, so a seed reproduces the
// schedule whatever happened in earlier rounds (and a run can be split into segments).
func Draw(seed uint64, round int, ttl time.Duration, kinds []Kind) Fault {
	r := rand.New(rand.NewPCG(seed, uint64(round)))
	if len(kinds) == 0 {
		kinds = Kinds
	}
	f := Fault{Round: round, Kind: kinds[r.IntN(len(kinds))], Role: []Role{Holder, Other, Any}[r.IntN(3)],
		Warmup: time.Duration(1000+r.IntN(2000)) * time.Millisecond}
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Millisecond }
	switch f.Kind {
	case KillAgent:
		f.Delay = ms(0, 1500)
	case CleanStop:
		f.Delay = []time.Duration{0, 500 * time.Millisecond, noRestart}[r.IntN(3)]
	case EtcdRestart:
		// A member restart, not an outage: an outage longer than the session can bear without
		// renewal (TTL − margin − watchdog timeout − a renewal period) fences every node, as
		// designed, and is a scenario of its own (TestEtcdOutage).
		f.Delay = ms(300, int(ttl.Milliseconds()/7))
	case DiskFail:
		f.Array, f.Member, f.Delay = []string{"r10", "r5"}[r.IntN(2)], r.IntN(3), ms(0, 2000)
	case RebootAll:
		f.Role = Any
	}
	return f
}
