package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// NetworkCutSelfFence cuts node1's network while it holds the exclusive RAID5 and writes to
// it; node2 waits for the lease. At its session's fence point node1 stops acting on it and
// stops the array: md on node1 must say so before md on node2 starts the array (host clock).
// With inUse a process keeps the array open (as a mounted filesystem does), md refuses to stop
// it, and node1 must be reset — at least the margin before its lease can expire (host clock,
// against the host etcd's lease). Without, the stop is enough: node1 is not reset (nothing it
// runs can write any more), as sanlock kills a lease's users rather than the host when it can.
func NetworkCutSelfFence(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration, inUse bool) error {
	uuid, md1, lw, err := watchedWriter(ctx, l, etcdPort, ttl, margin, inUse)
	if err != nil {
		return err
	}
	defer lw.Stop()
	time.Sleep(time.Second)
	cut := time.Now()
	if _, err := step(ctx, l, 1, quick, "cut node1's network (ip link set down on every link)",
		`for i in /sys/class/net/*; do [ "${i##*/}" = lo ] || ip link set "${i##*/}" down; done; true`); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, ttl+90*time.Second)
	defer cancel()
	md2, _, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return err
	}
	started, err := l.Node(2).WaitConsole(wctx, mdStarted(md2))
	if err != nil {
		return err
	}
	expiry, _ := lw.Expiry()
	if inUse {
		select {
		case <-l.Node(1).Done():
		case <-wctx.Done():
			return fmt.Errorf("node1 was not reset, its array in use, after losing its network")
		}
		reset := l.Node(1).ExitedAt()
		left := expiry.Sub(reset)
		l.Logf("host clock: cut +0.0s, node1 reset +%.2fs, lease expiry ≥ +%.2fs (%.2fs later), node2 starts %s +%.2fs (TTL %s, margin %s)",
			reset.Sub(cut).Seconds(), expiry.Sub(cut).Seconds(), left.Seconds(), md2, started.At.Sub(cut).Seconds(), ttl, margin)
		if left < margin {
			return fmt.Errorf("node1 was reset only %.2fs before its lease could expire; the margin is %s", left.Seconds(), margin)
		}
		if !reset.Before(started.At) {
			return fmt.Errorf("node2 started the array before node1 was reset")
		}
		return nil
	}
	stopped, err := l.Node(1).WaitConsole(wctx, mdStopped(md1))
	if err != nil {
		return fmt.Errorf("md on node1 never stopped %s: %w", md1, err)
	}
	l.Logf("host clock: cut +0.0s, node1's md stops %s +%.2fs, lease expiry ≥ +%.2fs, node2's md starts %s +%.2fs (TTL %s, margin %s)",
		md1, stopped.At.Sub(cut).Seconds(), expiry.Sub(cut).Seconds(), md2, started.At.Sub(cut).Seconds(), ttl, margin)
	if stopped.At.Add(margin).After(expiry) {
		return fmt.Errorf("node1 stopped its array only %.2fs before its lease could expire; the margin is %s", expiry.Sub(stopped.At).Seconds(), margin)
	}
	if !stopped.At.Before(started.At) {
		return fmt.Errorf("node2 started the array before node1 stopped it")
	}
	if l.Node(1).Exited() {
		return fmt.Errorf("node1 was reset though its array stopped")
	}
	return nil
}
