package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// CleanStopUnderWrites stops node1's agent the way systemd does (SIGTERM) while node1 writes to
// the exclusive RAID5 it holds, and node2's agent waits for the lease. The agent must stop the
// array before it gives the lease back: on the host's clock md on node1 says the array stopped
// before md on node2 starts it, and node2 reads node1's last acknowledged write. The agent then
// exits cleanly with its watchdog disarmed: node1 is not reset.
func CleanStopUnderWrites(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const ttl, margin = 10 * time.Second, 4 * time.Second
	uuid, md1, err := exclusivePair(ctx, l, etcdPort, ttl, margin)
	if err != nil {
		return err
	}
	if err := writeLoop(ctx, l, 1, "/dev/"+md1, false); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	term := time.Now()
	if _, err := signalAgent(ctx, l, 1, "TERM", 30*time.Second); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, ttl+60*time.Second)
	defer cancel()
	stopped, err := l.Node(1).WaitConsole(wctx, mdStopped(md1))
	if err != nil {
		return fmt.Errorf("md on node1 never stopped %s: %w", md1, err)
	}
	md2, _, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return err
	}
	started, err := l.Node(2).WaitConsole(wctx, mdStarted(md2))
	if err != nil {
		return err
	}
	l.Logf("host clock: SIGTERM +0.0s, node1's md stops %s +%.2fs, node2's md starts %s +%.2fs",
		md1, stopped.At.Sub(term).Seconds(), md2, started.At.Sub(term).Seconds())
	if !stopped.At.Before(started.At) {
		return fmt.Errorf("node2 started the array (%s) before node1 stopped it (%s)", started.At.Format("15:04:05.000"), stopped.At.Format("15:04:05.000"))
	}
	off, text, err := lastAcked(ctx, l, 1)
	if err != nil {
		return err
	}
	if err := odRead(ctx, l, 2, "/dev/"+md2, off, text); err != nil {
		return fmt.Errorf("node1's last acknowledged write is lost: %w", err)
	}
	time.Sleep(4 * time.Second) // longer than the watchdog timeout (2 s)
	if l.Node(1).Exited() {
		return fmt.Errorf("node1 was reset after a clean stop (its watchdog was not disarmed)")
	}
	return nil
}

// lastAcked returns the last write node acknowledged, and where it went.
func lastAcked(ctx context.Context, l *vmlab.Lab, node int) (int64, string, error) {
	out, err := step(ctx, l, node, quick, "last acknowledged write", "tail -n 1 /tmp/acked")
	if err != nil {
		return 0, "", err
	}
	i, err := strconv.Atoi(out)
	if err != nil {
		return 0, "", fmt.Errorf("node%d: no acknowledged write (%q)", node, out)
	}
	return int64(4096 * (i % 1024)), fmt.Sprintf("node%d-seq-%d", node, i), nil
}
