package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"mdcluster.dev/internal/faults/check"
)

// Report is a campaign's outcome (report.json).
type Report struct {
	Seed       uint64            `json:"seed"`
	FirstRound int               `json:"first_round"`
	Rounds     int               `json:"rounds"`
	TTL        string            `json:"ttl"`
	Margin     string            `json:"margin"`
	Bound      string            `json:"recovery_bound"`
	Hold       bool              `json:"writers_hold_devices"`
	SetupS     float64           `json:"setup_s"`
	ElapsedS   float64           `json:"elapsed_s"`
	Faults     map[Kind]int      `json:"faults"`
	MaxRecov   map[Kind]float64  `json:"max_recovery_s"`
	MaxR5Gap   map[Kind]float64  `json:"max_r5_write_gap_s"`
	MaxSlotS   float64           `json:"max_slot_recovery_s"`
	Reboots    int               `json:"reboots"`
	Resets     int               `json:"resets_by_fault"`
	Acks       int               `json:"acknowledged_writes"`
	Verified   int               `json:"verified_acked_blocks"`
	SampleGap  float64           `json:"max_sample_gap_s"`
	SampleOver int               `json:"sample_gaps_over_300ms"`
	TokenEvs   int               `json:"token_events"`
	Lock       check.LockResult  `json:"lock_linearizability"`
	Mismatch   map[string]string `json:"mismatch_cnt"`
	Known      map[string]int    `json:"known_kernel_issues,omitempty"`
	Kernel     map[string]int    `json:"kernel_messages,omitempty"` // warnings by location, DLM recovery failures
	Unexpected []string          `json:"unexpected_resets,omitempty"`
	Priority   string            `json:"host_priority,omitempty"`
	Violations []check.Violation `json:"violations"`
	Error      string            `json:"error,omitempty"`

	seen    map[string]bool
	longest time.Duration
}

func newReport(o Options, hold bool) *Report {
	return &Report{Seed: o.Seed, FirstRound: o.FirstRound, TTL: o.TTL.String(), Margin: o.Margin.String(),
		Bound: o.bound().String(), Hold: hold, Faults: map[Kind]int{}, MaxRecov: map[Kind]float64{},
		MaxR5Gap: map[Kind]float64{}, Mismatch: map[string]string{}, Known: map[string]int{}, Kernel: map[string]int{}, Violations: []check.Violation{}, seen: map[string]bool{}}
}

func (r *Report) addRound(res RoundResult) {
	r.Rounds++
	k := res.Fault.Kind
	r.Faults[k]++
	r.MaxRecov[k] = max(r.MaxRecov[k], res.RecoveryS)
	r.MaxR5Gap[k] = max(r.MaxR5Gap[k], res.R5GapS)
	r.MaxSlotS = max(r.MaxSlotS, res.SlotS)
	r.Verified += res.VerifiedAcks
	if res.Reset {
		r.Resets++
	}
	r.longest = max(r.longest, time.Duration(res.TookS*float64(time.Second)))
}

// longestRound is the longest round so far, or a guess before the first.
func (r *Report) longestRound() time.Duration {
	if r.longest == 0 {
		return 2 * time.Minute
	}
	return r.longest
}

// checkHistories runs the checkers over everything recorded so far and records the violations
// not reported before; with lock it also checks the lock history's linearizability.
func (c *campaign) checkHistories(lock bool) {
	tls, ends := c.obs.timelines()
	var vs []check.Violation
	vs = append(vs, check.Exclusive(tls)...)
	toks := c.obs.tokens()
	vs = append(vs, check.Tokens(toks, ends)...)
	c.rep.TokenEvs = len(toks)
	c.rep.SampleGap, c.rep.SampleOver = 0, 0
	for _, t := range tls {
		c.rep.SampleGap = max(c.rep.SampleGap, float64(t.MaxGap())/1e9)
		for i := 1; i < len(t.Samples); i++ {
			if t.Samples[i].At-t.Samples[i-1].At > int64(300*time.Millisecond) {
				c.rep.SampleOver++
			}
		}
	}
	if lock {
		res, lv := check.Linearizable(c.lockOps(), time.Minute)
		c.rep.Lock = res
		vs = append(vs, lv...)
	}
	for _, v := range vs {
		if !c.rep.seen[v.String()] {
			c.rep.seen[v.String()] = true
			c.violation(v)
		}
	}
}

// lockOps is the lock history with every etcd operation's node known.
func (c *campaign) lockOps() []check.LockOp {
	ops := c.obs.lockOps()
	nodes := c.lw.leaseNodes()
	for i := range ops {
		if ops[i].Node == 0 && ops[i].Lease != 0 {
			ops[i].Node = nodes[ops[i].Lease]
		}
	}
	return ops
}

// final checks both arrays (md's check: a mismatch means the copies or the parity disagree).
func (c *campaign) final(ctx context.Context) error {
	for _, a := range []array{r10, r5} {
		n := c.holder()
		if a.Tag == r10.Tag {
			n = 1
		}
		if n == 0 {
			c.violation(check.Violation{Check: "mismatch", What: "the RAID5 runs nowhere at the end"})
			continue
		}
		md, _ := c.mdOf(n, a)
		out, err := c.step(ctx, n, 10*time.Minute, "check "+a.Name, fmt.Sprintf(`S=/sys/block/%s/md
for i in $(seq 1 80); do echo check > $S/sync_action 2>/dev/null && break; sleep 0.25; done
sleep 1; for i in $(seq 1 2400); do [ "$(cat $S/sync_action)" = idle ] && break; sleep 0.25; done
echo "$(cat $S/last_sync_action) $(cat $S/mismatch_cnt)"`, md))
		if err != nil {
			return err
		}
		c.rep.Mismatch[a.Name] = out
		if out != "check 0" {
			c.violation(check.Violation{Check: "mismatch", What: fmt.Sprintf("%s on node%d: last sync and mismatch_cnt %q, want \"check 0\"", a.Name, n, out)})
		}
	}
	c.scan.all()
	c.checkHistories(true)
	return nil
}

// finish writes report.json and a summary to the log.
func (c *campaign) finish(_ context.Context, err error) {
	c.rep.ElapsedS = time.Since(c.start).Seconds()
	c.rep.Acks = c.obs.ledger.Acks()
	if err != nil {
		c.rep.Error = err.Error()
	}
	b, _ := json.MarshalIndent(c.rep, "", "  ")
	_ = os.WriteFile(filepath.Join(c.o.Out, "report.json"), append(b, '\n'), 0o644)
	kinds := make([]string, 0, len(c.rep.Faults))
	for k, n := range c.rep.Faults {
		kinds = append(kinds, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(kinds)
	c.logf("campaign: seed %d, %d rounds %v in %.0fs; %d acked writes, %d acked blocks verified; lock history %s (%d ops); %d violation(s); report %s",
		c.rep.Seed, c.rep.Rounds, kinds, c.rep.ElapsedS, c.rep.Acks, c.rep.Verified, c.rep.Lock.Result, c.rep.Lock.Ops,
		len(c.rep.Violations), filepath.Join(c.o.Out, "report.json"))
}
