package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// CleanStopInUse is the same stop while a process keeps the array open on node1 (as a mounted
// filesystem does): md refuses to stop it, so the agent keeps its lease and the watchdog armed,
// says so and exits. Nobody restarts it: node1 must be reset by its watchdog at least the margin
// before its lease can expire (host clock, against the host etcd's lease), and node2 starts the
// array only after that.
func CleanStopInUse(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const ttl, margin = 10 * time.Second, 4 * time.Second
	uuid, _, lw, err := watchedWriter(ctx, l, etcdPort, ttl, margin, true)
	if err != nil {
		return err
	}
	defer lw.Stop()
	time.Sleep(2 * time.Second)
	term := time.Now()
	if _, err := step(ctx, l, 1, quick, "SIGTERM to mdclusterd", "kill -TERM $(pidof mdclusterd)"); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, ttl+60*time.Second)
	defer cancel()
	said, err := l.Node(1).WaitConsole(wctx, "stopping while this node may still write")
	if err != nil {
		return fmt.Errorf("node1's agent did not say it keeps the lease: %w", err)
	}
	select {
	case <-l.Node(1).Done():
	case <-wctx.Done():
		return fmt.Errorf("node1 was not reset by its watchdog after its agent left with the array in use")
	}
	reset := l.Node(1).ExitedAt()
	expiry, _ := lw.Expiry()
	md2, _, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return err
	}
	started, err := l.Node(2).WaitConsole(wctx, mdStarted(md2))
	if err != nil {
		return err
	}
	l.Logf("host clock: SIGTERM +0.0s, agent keeps the lease +%.2fs, node1 reset +%.2fs, lease expiry ≥ +%.2fs, node2 starts %s +%.2fs (margin %s)",
		said.At.Sub(term).Seconds(), reset.Sub(term).Seconds(), expiry.Sub(term).Seconds(), md2, started.At.Sub(term).Seconds(), margin)
	if left := expiry.Sub(reset); left < margin {
		return fmt.Errorf("node1 was reset only %.2fs before its lease could expire; the margin is %s", left.Seconds(), margin)
	}
	if !reset.Before(started.At) {
		return fmt.Errorf("node2 started the array before node1 was reset")
	}
	return nil
}
