package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// DebianShutdown is scenario (c): the holder, its filesystem mounted from fstab, shuts down
// (verb "poweroff" or "reboot"). systemd unmounts the filesystem before it stops mdclusterd
// (x-systemd.after), the agent's clean stop stops the array and only then gives the
// activation lease back, and the other node's agent, waiting for it, assembles the array only
// after that. Every step is a line on a console, stamped with the host's clock. The node then
// boots again (QEMU exits at a reboot: the host starts it) and does not run the array. The
// other node becomes the holder.
func DebianShutdown(ctx context.Context, lc *lifecycle, verb string) error {
	l, h, o := lc.l, lc.holder, lc.other()
	if err := lc.mount(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := step(ctx, l, h, quick, "systemctl "+verb, "systemctl --no-block "+verb); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, slow)
	defer cancel()
	events := []struct{ what, node, text string }{
		{"filesystem unmounted", "holder", "Unmounted srv-data.mount"},
		{"array stopped", "holder", "md: " + lc.md + " stopped."},
		{"lease released", "holder", "activation lease released at shutdown"},
		{"array assembled by the other node", "other", "raid level 5 active"},
	}
	var at []time.Time
	for _, e := range events {
		n := map[string]int{"holder": h, "other": o}[e.node]
		ln, err := waitConsoleAfter(wctx, l, n, e.text, t0)
		if err != nil {
			return fmt.Errorf("%s of node%d: %s: %w", verb, h, e.what, err)
		}
		at = append(at, ln.At)
		if len(at) > 1 && at[len(at)-1].Before(at[len(at)-2]) {
			return fmt.Errorf("%s of node%d: %s (node%d, %s) came before %s (%s)", verb, h, e.what, n,
				ln.At.Format("15:04:05.000"), events[len(at)-2].what, at[len(at)-2].Format("15:04:05.000"))
		}
		l.Logf("node%d: %s at +%.2fs", n, e.what, ln.At.Sub(at[0]).Seconds())
	}
	select {
	case <-l.Node(h).Done():
	case <-wctx.Done():
		return fmt.Errorf("node%d did not %s", h, verb)
	}
	l.Logf("node%d: %s done; node%d took the array over %.2fs after node%d released its lease", h, verb, o, at[3].Sub(at[2]).Seconds(), h)
	if _, err := l.Restart(ctx, h); err != nil {
		return err
	}
	if err := waitActiveOn(ctx, l, h, fmt.Sprintf("node%d", o)); err != nil {
		return err
	}
	if s := raid5Started(l, h, time.Time{}); len(s) != 0 {
		return fmt.Errorf("node%d started the RAID5 after its %s", h, verb)
	}
	md, _, err := waitAssembled(ctx, l, o, lc.uuid, quick)
	if err != nil {
		return err
	}
	lc.holder, lc.md, lc.since = o, md, time.Now()
	return nil
}

// waitConsoleAfter waits until node's console shows a line with text that arrived after t.
func waitConsoleAfter(ctx context.Context, l *vmlab.Lab, node int, text string, t time.Time) (vmlab.ConsoleLine, error) {
	for {
		for _, ln := range l.Node(node).ConsoleMatching(text) {
			if ln.At.After(t) {
				return ln, nil
			}
		}
		select {
		case <-ctx.Done():
			return vmlab.ConsoleLine{}, fmt.Errorf("node%d's console never showed %q: %w", node, text, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
