// Package faults is mdcluster's randomized fault campaign on the real kernel (Jepsen and
// Pacemaker CTS in spirit). Three lab guests on Debian's kernel share six disks: a clustered
// RAID10 that every node runs (md-cluster, its kernel DLM run by the agents) and an exclusive
// RAID5 that only the holder of its activation lease runs. Every node writes numbered blocks to
// its own region of both with O_DIRECT and reports each write to the host as md acknowledges it.
// Each round the seed draws a fault — a node crash, kill -9 or SIGSTOP of an agent, a network
// cut, a clean stop under load, an etcd restart, a member disk failing, every node rebooting —
// the campaign waits for the cluster to recover, pauses the writers and checks:
//
//   - every acknowledged write reads back intact from a survivor (check.Ledger);
//   - the exclusive array never ran on two nodes, from md sampled on every node every 0.1 s
//     (check.Exclusive) and from the agents' fencing-token logs (check.Tokens);
//   - the activation lease's history — etcd as the host saw it, the agents' logs, md's samples —
//     is linearizable (check.Linearizable, porcupine);
//   - recovery took at most TTL + margin + Options.RecoveryBound (+ Options.RebuildBound after a
//     disk failure on the RAID10: md rebuilds the member);
//   - no agent panicked.
//
// At the end a `check` of both arrays must find no mismatch. Every record is a JSON line in
// Options.Out.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mdcluster.dev/internal/faults/check"
	"mdcluster.dev/internal/vmlab"
)

// Options describe a campaign.
type Options struct {
	Seed       uint64
	Rounds     int // 0: as many as Duration allows
	FirstRound int // the first round's number (a later segment of a seed's run); default 1
	// Duration time-boxes the whole campaign, set-up and final check included (0: none).
	Duration time.Duration
	TTL      time.Duration // leases.ttl (default 10s)
	Margin   time.Duration // leases.watchdog_margin (default 4s)
	// RecoveryBound is what recovery may take beyond TTL + margin: the failover's assembly, the
	// DLM's recovery, the writers finding the device again, all under TCG (default 30s).
	RecoveryBound time.Duration
	// RebuildBound is what a disk failure on the clustered RAID10 may add: its member comes
	// back wiped (a re-add is refused on a clustered array) and md rebuilds it whole, a peer's
	// writes waiting while the rebuild's window covers them (default 2m: the lab's member under
	// TCG, as TestClusteredRecoveryRounds). The RAID5's member is re-added (its bitmap).
	RebuildBound  time.Duration
	WriteInterval time.Duration // pause between two writes of one writer (default 40ms)
	Kinds         []Kind        // the faults to draw from (default all)
	Out           string        // directory for the histories and the report
	Log           io.Writer
}

func (o *Options) defaults() {
	if o.FirstRound == 0 {
		o.FirstRound = 1
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Second
	}
	if o.Margin == 0 {
		o.Margin = 4 * time.Second
	}
	if o.RecoveryBound == 0 {
		o.RecoveryBound = 30 * time.Second
	}
	if o.RebuildBound == 0 {
		o.RebuildBound = 2 * time.Minute
	}
	if o.WriteInterval == 0 {
		o.WriteInterval = 40 * time.Millisecond
	}
}

// bound is the longest a recovery may take.
func (o Options) bound() time.Duration { return o.TTL + o.Margin + o.RecoveryBound }

// boundFor is the longest the recovery from f may take, and the RAID10's writes may stop: a
// disk failure on the RAID10 adds a rebuild.
func (o Options) boundFor(f Fault) time.Duration {
	if f.Kind == DiskFail && f.Array != r5.Tag {
		return o.bound() + o.RebuildBound
	}
	return o.bound()
}

// stuckWrite is how long a write may stay in md before it counts as stuck.
func (o Options) stuckWrite() time.Duration { return o.bound() }

// finalPhase is what the time box keeps for the last read-back and the arrays' check.
const finalPhase = 90 * time.Second

type campaign struct {
	o     Options
	start time.Time
	h     *histories
	etcd  *hostEtcd
	obs   *observer
	lw    *lockWatch
	lab   *vmlab.Lab
	scan  *consoleScan

	round int
	epoch [nodes + 1]int
	exits map[int]time.Time // the last exit of each node (host clock)
	hold  bool              // writers keep md devices open (drawn per campaign from the seed)
	rep   *Report
}

// Run runs a campaign and returns its report; the error is set when the campaign could not run
// to its end (the report then says how far it got). Violations are in the report, not errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	c := &campaign{o: o, start: time.Now(), hold: o.Seed%2 == 1, exits: map[int]time.Time{}}
	c.rep = newReport(o, c.hold)
	c.rep.Priority = raisePriority()
	var err error
	if c.h, err = openHistories(o.Out); err != nil {
		return nil, err
	}
	defer c.h.close()
	if c.etcd, err = startHostEtcd(); err != nil {
		return nil, err
	}
	defer c.etcd.close()
	c.obs = newObserver(c.start, c.h, r5.sysUUID(), r5.UUID)
	c.lw = newLockWatch(c.obs, c.etcd.port, "/mdcluster/", r5.UUID)
	if err := c.lw.start(ctx); err != nil {
		return nil, err
	}
	defer c.lw.stop()
	c.logf("campaign: seed %d, rounds %d from %d, time box %s, TTL %s, margin %s, recovery bound %s, writers hold devices: %v",
		o.Seed, o.Rounds, o.FirstRound, o.Duration, o.TTL, o.Margin, o.bound(), c.hold)
	c.lab, err = vmlab.Start(ctx, "faults", vmlab.Options{Nodes: nodes, Disks: 6, DiskSize: 128 << 20, UserNet: true,
		Log: o.Log, Stream: c.obs.line})
	if err != nil {
		return nil, err
	}
	defer c.lab.Close()
	defer keepConsoles(c.lab.Dir, filepath.Join(o.Out, "consoles"))
	c.scan = newConsoleScan(c)
	err = c.run(ctx)
	c.finish(ctx, err)
	return c.rep, err
}

func (c *campaign) run(ctx context.Context) error {
	if err := c.setup(ctx); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	c.rep.SetupS = time.Since(c.start).Seconds()
	for r := c.o.FirstRound; ; r++ {
		if c.o.Rounds > 0 && r >= c.o.FirstRound+c.o.Rounds {
			break
		}
		if c.o.Duration > 0 && time.Since(c.start)+c.rep.longestRound()+finalPhase > c.o.Duration {
			c.logf("campaign: the time box leaves no room for round %d", r)
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.runRound(ctx, Draw(c.o.Seed, r, c.o.TTL, c.o.Kinds)); err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
	}
	return c.final(ctx)
}

// setup creates the exclusive RAID5, starts the agents, creates the clustered RAID10 and starts
// the workloads once the RAID5 runs on its holder.
func (c *campaign) setup(ctx context.Context) error {
	if _, err := c.step(ctx, 1, slow, "create the exclusive RAID5 (assume-clean: the disks are zero), then stop it", fmt.Sprintf(
		`mdadm --create /dev/md/%[1]s --run --level=5 --raid-devices=3 --assume-clean --bitmap=internal --bitmap-chunk=1M --metadata=1.2 --name=%[1]s --uuid=%[2]s %[3]s 2>&1 && mdadm --stop /dev/md/%[1]s 2>&1`,
		r5.Name, r5.UUID, join(r5.Devices))); err != nil {
		return err
	}
	if err := c.parallel(func(n int) error {
		if _, err := c.step(ctx, n, quick, "kernel messages to the console", "dmesg -n 7"); err != nil {
			return err
		}
		return c.startAgent(ctx, n)
	}); err != nil {
		return err
	}
	if _, err := c.step(ctx, 1, slow, "create the clustered RAID10 (--nodes=3, assume-clean)", fmt.Sprintf(
		`LD_LIBRARY_PATH=/usr/lib/mdcluster/cmapshim mdadm --create /dev/md/%[1]s --run --level=10 --raid-devices=3 --assume-clean --bitmap=clustered --bitmap-chunk=1M --nodes=3 --metadata=1.2 --name=%[1]s --uuid=%[2]s %[3]s 2>&1`,
		r10.Name, r10.UUID, join(r10.Devices))); err != nil {
		return err
	}
	for n := 1; n <= nodes; n++ {
		if err := c.assembleR10(ctx, n); err != nil {
			return err
		}
	}
	if err := c.parallel(func(n int) error { return c.startWorkload(ctx, n) }); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for c.holder() == 0 {
		if time.Now().After(deadline) {
			return errors.New("no agent assembled the exclusive RAID5")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// keepConsoles copies every guest's console logs (rebooted guests' too) to dir: the kernel's
// side of every round.
func keepConsoles(from, dir string) {
	logs, _ := filepath.Glob(filepath.Join(from, "*.console.log*"))
	if len(logs) == 0 || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	for _, p := range logs {
		if b, err := os.ReadFile(p); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
		}
	}
}

// parallel runs f for every node at once and joins the errors.
func (c *campaign) parallel(f func(n int) error) error {
	errs := make(chan error, nodes)
	for n := 1; n <= nodes; n++ {
		go func() { errs <- f(n) }()
	}
	var all []error
	for n := 1; n <= nodes; n++ {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func (c *campaign) logf(format string, a ...any) {
	if c.lab != nil {
		c.lab.Logf(format, a...)
	} else if c.o.Log != nil {
		fmt.Fprintf(c.o.Log, format+"\n", a...)
	}
}

// violation records one broken invariant.
func (c *campaign) violation(v check.Violation) {
	if v.At == 0 {
		v.At = c.obs.now()
	}
	c.rep.Violations = append(c.rep.Violations, v)
	c.h.events.add(map[string]any{"t": v.At, "violation": v})
	c.logf("VIOLATION %s", v)
}
