package faults

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/internal/faults/check"
	"mdcluster.dev/internal/vmlab"
)

// settled is how a round's recovery went, on the host's clock.
type settled struct {
	At       time.Time     // the cluster was steady again
	Rebooted []int         // nodes that were reset (or crashed) and booted again
	R5Gap    time.Duration // longest time without an acknowledged write to the RAID5 (any node)
	R10Gap   time.Duration // longest time without one to the RAID10 on a node that was not reset
	// SlotRecovery is, for a node that died, the time from its death to md-cluster's recovery
	// of its bitmap slot on a survivor.
	SlotRecovery time.Duration
	Provision    time.Duration // time spent booting and provisioning reset nodes
}

// settle waits until the cluster is steady after a fault: every node runs (reset nodes booted and
// provisioned again), every agent runs, every node writes to the RAID10, one node writes to the
// RAID5, and neither array syncs or is degraded. It gives up after the recovery bound (for a
// disk failure, with the rebuild's) plus the time reboots took.
func (c *campaign) settle(ctx context.Context, f Fault, in injected) (settled, error) {
	var s settled
	deadline := in.End.Add(c.o.boundFor(f))
	for {
		if err := c.rebootExited(ctx, &s, &deadline); err != nil {
			return s, err
		}
		ok, why := c.steady(ctx, in.End)
		if ok {
			s.At = time.Now()
			break
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not recovered %s after the fault (bound %s): %s", time.Since(in.End).Round(time.Second), c.o.boundFor(f), why)
		}
		time.Sleep(time.Second)
	}
	c.gaps(&s, in)
	return s, nil
}

// rebootExited boots the nodes that exited and provisions them; their boot extends deadline.
func (c *campaign) rebootExited(ctx context.Context, s *settled, deadline *time.Time) error {
	var exited []int
	for n := 1; n <= nodes; n++ {
		if vm := c.lab.Node(n); vm.Exited() {
			c.scan.vm(vm)
			c.obs.ended(n, vm.Boot, vm.ExitedAt())
			c.exits[n] = vm.ExitedAt()
			exited = append(exited, n)
		}
	}
	if len(exited) == 0 {
		return nil
	}
	t0 := time.Now()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, n := range exited {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.lab.Restart(ctx, n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	// md-cluster joins one node at a time.
	for _, n := range exited {
		if err := c.provision(ctx, n); err != nil && !c.lab.Node(n).Exited() {
			return fmt.Errorf("provision node%d after its reset: %w", n, err)
		}
	}
	s.Rebooted = append(s.Rebooted, exited...)
	took := time.Since(t0)
	s.Provision += took
	*deadline = deadline.Add(took)
	c.rep.Reboots += len(exited)
	return nil
}

// steady reports whether the cluster is steady, or what it waits for.
func (c *campaign) steady(ctx context.Context, since time.Time) (bool, string) {
	t := c.obs.at(since)
	for n := 1; n <= nodes; n++ {
		if !c.agentRunning(ctx, n) {
			if err := c.startAgent(ctx, n); err != nil {
				return false, fmt.Sprintf("node%d: agent not running and not restartable: %v", n, err)
			}
			c.logf("node%d: its agent was not running: restarted", n)
		}
		if len(c.obs.acksSince(n, r10.Tag, t)) == 0 {
			return false, fmt.Sprintf("node%d has not written to the RAID10 since the fault", n)
		}
	}
	h := c.holder()
	if h == 0 || len(c.obs.acksSince(h, r5.Tag, t)) == 0 {
		return false, fmt.Sprintf("the RAID5 has no writer since the fault (holder: node%d)", h)
	}
	for n := 1; n <= nodes; n++ {
		arrays := []array{r10}
		if n == h {
			arrays = append(arrays, r5)
		}
		for _, a := range arrays {
			md, _ := c.mdOf(n, a)
			out, _ := c.quiet(ctx, n, fmt.Sprintf(
				"cat /sys/block/%[1]s/md/sync_action /sys/block/%[1]s/md/degraded | tr '\\n' ' '", md))
			if strings.TrimSpace(out) != "idle 0" {
				return false, fmt.Sprintf("node%d %s (%s): sync_action, degraded = %q", n, a.Name, md, out)
			}
		}
	}
	return true, ""
}

// gaps measures how long writes stopped during the round's recovery.
func (c *campaign) gaps(s *settled, in injected) {
	from, to := c.obs.at(in.At), c.obs.at(s.At)
	s.R5Gap = maxGap(c.obs.acksSince(0, r5.Tag, from), from, to)
	for n := 1; n <= nodes; n++ {
		reset := n == in.Node && in.Reset
		for _, r := range s.Rebooted {
			reset = reset || r == n
		}
		if !reset {
			s.R10Gap = max(s.R10Gap, maxGap(c.obs.acksSince(n, r10.Tag, from), from, to))
		}
	}
}

// maxGap is the longest stretch of [from, to] without an ack (ts sorted, from ≤ ts).
func maxGap(ts []int64, from, to int64) time.Duration {
	prev, g := from, int64(0)
	for _, t := range ts {
		if t > to {
			break
		}
		g, prev = max(g, t-prev), t
	}
	return time.Duration(g)
}

// consoleScan reads the guests' consoles for agent panics, the kernel's warnings and DLM
// errors, and md-cluster's slot recoveries.
type consoleScan struct {
	c    *campaign
	mu   sync.Mutex
	seen map[*vmlab.VM]time.Time
	// recovered: host times at which a survivor began recovering a node's slot, by node.
	recovered map[int][]time.Time
}

func newConsoleScan(c *campaign) *consoleScan {
	return &consoleScan{c: c, seen: map[*vmlab.VM]time.Time{}, recovered: map[int][]time.Time{}}
}

var (
	goPanic    = regexp.MustCompile(`^(panic: |fatal error: )`)
	kernelNote = regexp.MustCompile(`WARNING:|BUG:|Call Trace|ENOBUFS|create_rcom|dlm: .*(error|failed|-1\d\d)|md-cluster|md/raid|md: |softdog|watchdog`)
	slotDown   = regexp.MustCompile(`Node (\d+)/\d+ down\. My slot: \d+\. Initiating recovery`)
	kernelWarn = regexp.MustCompile(`WARNING: CPU: \d+ PID: \d+ at (\S+)`)
	dlmFailed  = regexp.MustCompile(`dlm: .*(create_rcom to -?\d+ .*ENOBUFS|do_ls_recovery.*error|dlm_recover .* error)`)
)

// all scans every running guest's new console lines.
func (s *consoleScan) all() {
	for n := 1; n <= nodes; n++ {
		s.vm(s.c.lab.Node(n))
	}
}

// vm scans one guest's console lines since the last scan.
func (s *consoleScan) vm(vm *vmlab.VM) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := vm.ConsoleLines(s.seen[vm])
	for _, l := range lines {
		s.seen[vm] = l.At
		t := s.c.obs.at(l.At)
		text := strings.TrimSpace(l.Text)
		switch {
		case goPanic.MatchString(text):
			s.c.violation(check.Violation{Check: "panic", At: t, What: fmt.Sprintf("node%d (boot %d): %s", vm.Node, vm.Boot, text)})
		case kernelNote.MatchString(text):
			s.c.h.events.add(map[string]any{"t": t, "node": vm.Node, "boot": vm.Boot, "console": text})
			if m := kernelWarn.FindStringSubmatch(text); m != nil {
				s.c.rep.Kernel["WARNING at "+m[1]]++
			}
			if dlmFailed.MatchString(text) {
				s.c.rep.Kernel["DLM recovery failed"]++
			}
			if m := slotDown.FindStringSubmatch(text); m != nil {
				dead, _ := strconv.Atoi(m[1])
				s.recovered[dead] = append(s.recovered[dead], l.At)
			}
		}
	}
}

// slotRecovered returns when a survivor began recovering node's slot after t, if it did.
func (s *consoleScan) slotRecovered(node int, t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.recovered[node] {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}
