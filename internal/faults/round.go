package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mdcluster.dev/internal/faults/check"
	"mdcluster.dev/internal/faults/wire"
	"mdcluster.dev/mdcluster/fence"
)

// RoundResult is one round as rounds.jsonl records it.
type RoundResult struct {
	Fault        Fault             `json:"fault"`
	Node         int               `json:"node"`
	Holder       int               `json:"holder_before"`
	StartS       float64           `json:"start_s"`
	FaultS       float64           `json:"fault_s"`    // the fault's own duration
	RecoveryS    float64           `json:"recovery_s"` // fault end to steady (reboots included)
	R5GapS       float64           `json:"r5_write_gap_s"`
	R10GapS      float64           `json:"r10_write_gap_s"`
	SlotS        float64           `json:"slot_recovery_s,omitempty"`
	ProvisionS   float64           `json:"provision_s,omitempty"`
	Reset        bool              `json:"reset"`
	Rebooted     []int             `json:"rebooted,omitempty"`
	VerifiedAcks int               `json:"verified_acked_blocks"`
	Violations   []check.Violation `json:"violations,omitempty"`
	TookS        float64           `json:"took_s"`
}

// runRound runs one round: writes in the round, the fault, the recovery, the read-back and the
// checks. An error means the campaign cannot go on; violations are recorded, not returned.
func (c *campaign) runRound(ctx context.Context, f Fault) error {
	t0 := time.Now()
	c.round = f.Round
	nv := len(c.rep.Violations)
	res := RoundResult{Fault: f, Holder: c.holder(), StartS: time.Since(c.start).Seconds()}
	c.h.faults.add(map[string]any{"t": c.obs.now(), "fault": f, "text": f.String()})
	c.logf("=== %s", f)
	c.resumeWorkloads(ctx)
	time.Sleep(f.Warmup)
	in, err := c.inject(ctx, f)
	if err != nil {
		c.blockedTasks(ctx)
		return fmt.Errorf("inject %s: %w", f.Kind, err)
	}
	res.Node, res.Reset, res.FaultS = in.Node, in.Reset, in.End.Sub(in.At).Seconds()
	if mustReset(f) && !in.Reset {
		c.violation(check.Violation{Check: "fencing", What: fmt.Sprintf("%s: node%d still runs with its session lost and the RAID10's lockspace in use", f, in.Node)})
	}
	s, err := c.settle(ctx, f, in)
	res.Rebooted, res.ProvisionS = s.Rebooted, s.Provision.Seconds()
	if err != nil {
		c.violation(check.Violation{Check: "recovery", What: fmt.Sprintf("%s: %v", f, err)})
		c.blockedTasks(ctx)
		return err
	}
	res.RecoveryS, res.R5GapS, res.R10GapS = s.At.Sub(in.End).Seconds(), s.R5Gap.Seconds(), s.R10Gap.Seconds()
	c.unexpectedResets(f, in, s)
	c.recoveryBounds(f, in, s, &res)
	if err := c.pauseWorkloads(ctx); err != nil {
		c.violation(check.Violation{Check: "recovery", What: err.Error()})
	}
	res.VerifiedAcks = c.verifyAll(ctx)
	c.scan.all()
	c.checkHistories(true)
	res.Violations = append(res.Violations, c.rep.Violations[nv:]...)
	res.TookS = time.Since(t0).Seconds()
	c.rep.addRound(res)
	c.h.rounds.add(res)
	c.h.flush()
	c.logf("=== round %d: %s on node%d, recovery %.1fs (RAID5 gap %.1fs, RAID10 gap %.1fs), %d acked blocks verified, %d violation(s)",
		f.Round, f.Kind, res.Node, res.RecoveryS, res.R5GapS, res.R10GapS, res.VerifiedAcks, len(res.Violations))
	return nil
}

// recoveryBounds checks the round's recovery against TTL + margin + the stated bound. Time spent
// booting reset nodes does not count against it: it is the lab's, not the cluster's.
func (c *campaign) recoveryBounds(f Fault, in injected, s settled, res *RoundResult) {
	bound := c.o.boundFor(f)
	for _, g := range []struct {
		what  string
		d, of time.Duration
	}{{"RAID5 write gap", s.R5Gap - s.Provision, c.o.bound()}, {"RAID10 write gap", s.R10Gap, bound}} {
		if g.d > g.of {
			c.violation(check.Violation{Check: "recovery", What: fmt.Sprintf("%s: %s %.1fs, above the bound %s", f, g.what, g.d.Seconds(), g.of)})
		}
	}
	if f.Kind == RebootAll || in.Node == 0 {
		return
	}
	if !in.Reset && f.Kind != Crash {
		return
	}
	died := c.exitedAt(in.Node)
	c.scan.all()
	at, ok := c.scan.slotRecovered(in.Node, in.At)
	if !ok {
		c.h.events.add(map[string]any{"t": c.obs.now(), "note": fmt.Sprintf("no survivor logged the recovery of node%d's slot", in.Node)})
		return
	}
	res.SlotS = at.Sub(died).Seconds()
	switch {
	case at.Before(died):
		c.violation(check.Violation{Check: "fencing", What: fmt.Sprintf("%s: a survivor recovered node%d's bitmap slot %.2fs before node%d was reset", f, in.Node, -res.SlotS, in.Node)})
	case at.Sub(died) > bound:
		c.violation(check.Violation{Check: "recovery", What: fmt.Sprintf("%s: node%d's bitmap slot was recovered %.1fs after it died, above the bound %s", f, in.Node, res.SlotS, bound)})
	}
}

// tolerance is how long the agents' sessions bear the lock service's silence before the fence
// point (fence.StoreSilence).
func (o Options) tolerance() time.Duration {
	return fence.StoreSilence(o.TTL, o.Margin, fence.WatchdogTimeout(o.TTL, o.Margin))
}

// unexpectedResets records nodes reset that the fault did not call for: no invariant is broken
// (a reset is the safe way out), but a node fenced without cause is a finding. An etcd restart
// that outlasts the sessions' tolerance fences every node, as designed.
func (c *campaign) unexpectedResets(f Fault, in injected, s settled) {
	allowed := map[int]bool{in.Node: f.Kind != DiskFail && f.Kind != EtcdRestart}
	if f.Kind == RebootAll || (f.Kind == EtcdRestart && in.End.Sub(in.At) > c.o.tolerance()) {
		return
	}
	for _, n := range s.Rebooted {
		if !allowed[n] {
			c.rep.Unexpected = append(c.rep.Unexpected, fmt.Sprintf("round %d (%s, %.1fs): node%d reset", f.Round, f.Kind, in.End.Sub(in.At).Seconds(), n))
			c.h.events.add(map[string]any{"t": c.obs.now(), "unexpected_reset": n, "round": f.Round, "fault": f})
			c.logf("node%d was reset though %s did not call for it", n, f)
		}
	}
}

// mustReset reports whether the fault must end with its node reset: its session is lost while the
// RAID10's lockspace is in use, and only a reset stops a node that may still write.
func mustReset(f Fault) bool {
	return f.Kind == PauseAgent || f.Kind == NetCut || (f.Kind == CleanStop && f.Delay < 0)
}

// exitedAt is when node's boot that the round reset ended (host clock).
func (c *campaign) exitedAt(node int) time.Time {
	if t, ok := c.exits[node]; ok {
		return t
	}
	return time.Now()
}

// verifyAll reads every node's region of both arrays back on a running node (the RAID5 on its
// holder, the RAID10 preferably on another node than the writer) and checks it against the
// ledger. It returns how many slots holding an acknowledged write were verified.
func (c *campaign) verifyAll(ctx context.Context) int {
	total := 0
	for n := 1; n <= nodes; n++ {
		for _, a := range []array{r10, r5} {
			reader := c.reader(a, n)
			if reader == 0 {
				c.violation(check.Violation{Check: "writes", What: fmt.Sprintf("no node runs %s to read node%d's region back", a.Name, n)})
				continue
			}
			blocks, err := c.readBack(ctx, reader, a, n)
			if err != nil {
				c.violation(check.Violation{Check: "writes", What: fmt.Sprintf("read back node%d's region of %s on node%d: %v", n, a.Name, reader, err)})
				continue
			}
			acked, vs := c.obs.ledger.Verify(a.Tag, n, blocks)
			total += acked
			for _, v := range vs {
				v.What += fmt.Sprintf(" (read on node%d)", reader)
				c.violation(v)
			}
		}
	}
	return total
}

// reader picks the node that reads node's region of a back.
func (c *campaign) reader(a array, node int) int {
	if a.Tag == r5.Tag {
		return c.holder()
	}
	for i := 1; i <= nodes; i++ {
		m := (node+c.round+i-1)%nodes + 1
		if m != node && !c.lab.Node(m).Exited() {
			return m
		}
	}
	return node
}

func (c *campaign) readBack(ctx context.Context, reader int, a array, node int) ([]wire.BlockResult, error) {
	md, _ := c.mdOf(reader, a)
	if md == "" {
		return nil, fmt.Errorf("%s not running on node%d", a.Name, reader)
	}
	r, err := c.lab.Step(ctx, reader, slow, fmt.Sprintf("read back node%d's region of %s", node, a.Name),
		fmt.Sprintf("mdlab verify /dev/%s %d %d", md, regionOffset(node), regionBlocks))
	if err != nil {
		return nil, err
	}
	var out []wire.BlockResult
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var b wire.BlockResult
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			return nil, fmt.Errorf("verify output %q: %w", sc.Text(), err)
		}
		out = append(out, b)
	}
	return out, nil
}

// blockedTasks has every running node's kernel list its blocked tasks (sysrq w) and keeps the
// kernel log's end in blocked-nodeN.txt: a round that never recovers is most often threads
// waiting on each other in md, md-cluster or the DLM, and their stacks say which.
func (c *campaign) blockedTasks(ctx context.Context) {
	for n := 1; n <= nodes; n++ {
		if c.lab.Node(n).Exited() {
			continue
		}
		out, ok := c.quiet(ctx, n, "echo w > /proc/sysrq-trigger; sleep 1; dmesg | tail -n 600")
		if !ok {
			continue
		}
		name := filepath.Join(c.o.Out, fmt.Sprintf("blocked-node%d.txt", n))
		if err := os.WriteFile(name, []byte(out+"\n"), 0o644); err == nil {
			c.logf("node%d: blocked tasks (sysrq w) in %s", n, name)
		}
	}
}
