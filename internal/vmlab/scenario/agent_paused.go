package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// AgentPaused stops node1's agent with SIGSTOP for longer than the TTL while node1 holds the
// exclusive RAID5 and writes to it. A paused agent pets nothing: node1 must be reset by its
// watchdog at least the margin before its lease can expire (host clock, against the host etcd's
// lease), and node2 must start the array only after that. It returns how long before the
// lease's expiry node1 was reset.
func AgentPaused(ctx context.Context, l *vmlab.Lab, etcdPort int) (time.Duration, error) {
	const ttl, margin = 8 * time.Second, 3 * time.Second
	uuid, md1, err := exclusivePair(ctx, l, etcdPort, ttl, margin)
	if err != nil {
		return 0, err
	}
	lease, err := sessionLease(ctx, l, 1)
	if err != nil {
		return 0, err
	}
	lw, err := watchLease(ctx, etcdPort, lease)
	if err != nil {
		return 0, err
	}
	defer lw.Stop()
	if err := writeLoop(ctx, l, 1, "/dev/"+md1, false); err != nil {
		return 0, err
	}
	time.Sleep(time.Second)
	stop := time.Now()
	if _, err := step(ctx, l, 1, quick, "SIGSTOP mdclusterd", "kill -STOP $(pidof mdclusterd)"); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, ttl+60*time.Second)
	defer cancel()
	select {
	case <-l.Node(1).Done():
	case <-wctx.Done():
		return 0, fmt.Errorf("node1 was not reset by its watchdog while its agent was paused")
	}
	reset := l.Node(1).ExitedAt()
	expiry, _ := lw.Expiry()
	md2, _, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return 0, err
	}
	started, err := l.Node(2).WaitConsole(wctx, mdStarted(md2))
	if err != nil {
		return 0, err
	}
	left := expiry.Sub(reset)
	l.Logf("host clock: SIGSTOP +0.0s, node1 reset +%.2fs, lease expiry ≥ +%.2fs (%.2fs later), node2 starts %s +%.2fs (TTL %s, margin %s)",
		reset.Sub(stop).Seconds(), expiry.Sub(stop).Seconds(), left.Seconds(), md2, started.At.Sub(stop).Seconds(), ttl, margin)
	if left < margin {
		return left, fmt.Errorf("node1 was reset only %.2fs before its lease could expire; the margin is %s", left.Seconds(), margin)
	}
	if !reset.Before(started.At) {
		return left, fmt.Errorf("node2 started the array before node1 was reset")
	}
	return left, nil
}
