package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// injected is what a fault did, on the host's clock.
type injected struct {
	Node  int       // the node it hit (0: none, or every node)
	At    time.Time // when it started
	End   time.Time // when it was over: agent back, network back, etcd back
	Reset bool      // the node was reset during the fault itself
}

// pick resolves a fault's role to a running node, with the round's own randomness.
func (c *campaign) pick(f Fault) int {
	r := rand.New(rand.NewPCG(c.o.Seed^0x5eed, uint64(f.Round)))
	h := c.holder()
	var live, others []int
	for n := 1; n <= nodes; n++ {
		if !c.lab.Node(n).Exited() {
			live = append(live, n)
			if n != h {
				others = append(others, n)
			}
		}
	}
	switch {
	case f.Role == Holder && h != 0:
		return h
	case f.Role == Other && len(others) > 0:
		return others[r.IntN(len(others))]
	case len(live) > 0:
		return live[r.IntN(len(live))]
	}
	return 1
}

// inject injects f and returns once the fault is over (not once the cluster recovered).
func (c *campaign) inject(ctx context.Context, f Fault) (injected, error) {
	in := injected{At: time.Now()}
	if f.Kind != EtcdRestart && f.Kind != RebootAll {
		in.Node = c.pick(f)
	}
	n := in.Node
	var err error
	switch f.Kind {
	case Crash:
		err = c.crash(ctx, n)
	case KillAgent:
		err = c.signalThenRestart(ctx, n, "KILL", f.Delay)
	case CleanStop:
		err = c.signalThenRestart(ctx, n, "TERM", f.Delay)
	case PauseAgent:
		err = c.pauseAgent(ctx, n)
	case NetCut:
		err = c.netCut(ctx, n)
	case EtcdRestart:
		c.etcd.stop()
		time.Sleep(f.Delay)
		err = c.etcd.start()
	case DiskFail:
		in.Node, err = c.diskFail(ctx, f)
	case RebootAll:
		err = c.parallel(func(n int) error { return c.crash(ctx, n) })
	}
	in.End = time.Now()
	if n != 0 && f.Kind != Crash && f.Kind != RebootAll {
		in.Reset = c.lab.Node(n).Exited()
	}
	return in, err
}

func (c *campaign) crash(ctx context.Context, n int) error {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	return c.lab.Node(n).Crash(cctx)
}

// gone reports whether node exited (a reset): the rest of a fault on it is moot.
func (c *campaign) gone(n int) bool { return c.lab.Node(n).Exited() }

// resetGrace is how long a guest may take from its kernel's reboot to its QEMU process's exit.
const resetGrace = 10 * time.Second

// failedOnReset reports, after a step on node n failed, whether n is being reset: its control
// channel breaks as the kernel reboots (a watchdog reset, as after a kill -9 of the agent whose
// restart came too late), a moment before its QEMU process exits (seed 20261206, round 45).
func (c *campaign) failedOnReset(ctx context.Context, n int) bool {
	c.waitOrReset(ctx, n, resetGrace)
	return c.gone(n)
}

// waitOrReset waits d, or less if node n exits meanwhile.
func (c *campaign) waitOrReset(ctx context.Context, n int, d time.Duration) {
	select {
	case <-c.lab.Node(n).Done():
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// signalThenRestart sends sig to node's agent, waits for it to exit and starts it again after
// delay (delay < 0: not restarted; the campaign then watches for a reset by the watchdog).
func (c *campaign) signalThenRestart(ctx context.Context, n int, sig string, delay time.Duration) error {
	if _, err := c.step(ctx, n, 45*time.Second, "kill -"+sig+" mdclusterd and wait for it to exit", fmt.Sprintf(
		`p=$(pidof mdclusterd) || exit 1; kill -%s $p
for i in $(seq 1 400); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; exit 1`, sig)); err != nil {
		if c.failedOnReset(ctx, n) {
			return nil
		}
		return err
	}
	if delay < 0 {
		// Nothing restarts it: with the RAID10's lockspace in use the node must be reset by its
		// watchdog before its lease can expire; wait long enough to see it.
		c.waitOrReset(ctx, n, c.o.TTL+c.o.Margin+5*time.Second)
		return nil
	}
	time.Sleep(delay)
	if c.gone(n) {
		return nil
	}
	if err := c.startAgent(ctx, n); err != nil && !c.failedOnReset(ctx, n) {
		return err
	}
	return nil
}

// pauseAgent stops node's agent for longer than the TTL, then lets it go on (if the watchdog
// has not reset the node by then, which it must have).
func (c *campaign) pauseAgent(ctx context.Context, n int) error {
	if _, err := c.step(ctx, n, quick, "SIGSTOP mdclusterd", "kill -STOP $(pidof mdclusterd)"); err != nil {
		return err
	}
	c.waitOrReset(ctx, n, c.o.TTL+2*time.Second)
	if c.gone(n) {
		return nil
	}
	_, err := c.step(ctx, n, quick, "SIGCONT mdclusterd", "kill -CONT $(pidof mdclusterd)")
	if err != nil && c.failedOnReset(ctx, n) {
		return nil
	}
	return err
}

// netCut takes every link of node down for longer than the TTL, then up again.
func (c *campaign) netCut(ctx context.Context, n int) error {
	const links = `for i in /sys/class/net/*; do [ "${i##*/}" = lo ] || ip link set "${i##*/}" %s; done; true`
	if _, err := c.step(ctx, n, quick, "cut every link", fmt.Sprintf(links, "down")); err != nil {
		return err
	}
	c.waitOrReset(ctx, n, c.o.TTL+2*time.Second)
	if c.gone(n) {
		return nil
	}
	_, err := c.step(ctx, n, quick, "restore every link", fmt.Sprintf(links, "up"))
	if err != nil && c.failedOnReset(ctx, n) {
		return nil
	}
	return err
}

func join(s []string) string { return strings.Join(s, " ") }
