// Package scenario holds the lab's scenarios on the real kernel. Each one drives running guests
// step by step (every step with its own timeout), checks what the kernel did, and returns an
// error that says which check failed. The VM test suite and `mdlab demo` run the same code.
package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// Step timeouts. TCG is slow and the host may be shared, so they are generous; a step that
// hangs still ends.
const (
	quick = 30 * time.Second
	slow  = 3 * time.Minute
)

// step runs a step that must succeed and returns its trimmed stdout.
func step(ctx context.Context, l *vmlab.Lab, node int, timeout time.Duration, what, script string) (string, error) {
	r, err := l.Step(ctx, node, timeout, what, script)
	return strings.TrimSpace(r.Stdout), err
}

// expect fails unless got equals want, naming the check.
func expect(what, got, want string) error {
	if got != want {
		return fmt.Errorf("%s: got %q, want %q", what, got, want)
	}
	return nil
}

// sysfs reads one md sysfs attribute of an array.
func sysfs(ctx context.Context, l *vmlab.Lab, node int, md, attr string) (string, error) {
	return step(ctx, l, node, quick, "read "+md+"/md/"+attr, "cat /sys/block/"+md+"/md/"+attr)
}

// waitSync waits until md's sync_action is idle and the array is not degraded (or until the step
// times out), then returns the last sync action md ran.
func waitSync(ctx context.Context, l *vmlab.Lab, node int, md string) (string, error) {
	script := fmt.Sprintf(`S=/sys/block/%[1]s/md
i=0
while [ $i -lt 1200 ]; do
  a=$(cat $S/sync_action); d=$(cat $S/degraded)
  [ "$a" = idle ] && [ "$d" = 0 ] && { cat $S/last_sync_action; exit 0; }
  sleep 0.25; i=$((i+1))
done
echo "still $a degraded=$d" >&2; exit 1`, md)
	return step(ctx, l, node, slow, "wait for "+md+" sync to finish", script)
}

// odWrite writes text at offset with O_DIRECT on node.
func odWrite(ctx context.Context, l *vmlab.Lab, node int, dev string, off int64, text string) error {
	_, err := step(ctx, l, node, quick, fmt.Sprintf("O_DIRECT write %q at %s@%d", text, dev, off),
		fmt.Sprintf("mdlab odwrite %s %d %s", dev, off, text))
	return err
}

// odRead reads one block at offset with O_DIRECT on node and checks it holds want.
func odRead(ctx context.Context, l *vmlab.Lab, node int, dev string, off int64, want string) error {
	got, err := step(ctx, l, node, quick, fmt.Sprintf("O_DIRECT read %s@%d", dev, off),
		fmt.Sprintf("mdlab odread %s %d", dev, off))
	if err != nil {
		return err
	}
	return expect(fmt.Sprintf("node%d reads %s@%d", node, dev, off), got, want)
}

// dirtyBits returns the dirty-chunk count of every bitmap slot mdadm -X reports for dev, in slot
// order.
func dirtyBits(ctx context.Context, l *vmlab.Lab, node int, dev string) ([]int, error) {
	// md writes bitmaps behind the page cache: drop it so mdadm reads what is on disk.
	out, err := step(ctx, l, node, quick, "mdadm --examine-bitmap "+dev, examineBitmap+dev)
	if err != nil {
		return nil, err
	}
	return parseDirty(dev, out)
}

const examineBitmap = "sync; echo 3 > /proc/sys/vm/drop_caches; mdadm --examine-bitmap "

// parseDirty reads the dirty-chunk count of every slot from mdadm -X output.
func parseDirty(dev, out string) ([]int, error) {
	var dirty []int
	for _, ln := range vmlab.Lines(out) {
		// "Bitmap : 4080 bits (chunks), 0 dirty (0.0%)"
		if !strings.HasPrefix(ln, "Bitmap :") {
			continue
		}
		f := strings.Fields(ln)
		for i := 1; i < len(f); i++ {
			if strings.HasPrefix(f[i], "dirty") {
				n, err := strconv.Atoi(f[i-1])
				if err != nil {
					return nil, fmt.Errorf("parse %q: %w", ln, err)
				}
				dirty = append(dirty, n)
			}
		}
	}
	if len(dirty) == 0 {
		return nil, fmt.Errorf("mdadm -X %s printed no bitmap line:\n%s", dev, out)
	}
	return dirty, nil
}

// waitClean polls mdadm -X on dev until the bitmap slot has no dirty chunk; md clears bits a few
// bitmap-daemon periods (time_base, 5 s) after the last write to a chunk.
func waitClean(ctx context.Context, l *vmlab.Lab, node int, dev string, slot int) error {
	var last []int
	for i := 0; i < 60; i++ {
		sctx, cancel := context.WithTimeout(ctx, quick)
		r, err := l.Node(node).Run(sctx, examineBitmap+dev)
		cancel()
		if err != nil {
			return err
		}
		d, err := parseDirty(dev, r.Stdout)
		if err != nil {
			return err
		}
		if slot >= len(d) {
			return fmt.Errorf("mdadm -X %s shows %d slot(s), no slot %d", dev, len(d), slot+1)
		}
		if d[slot] == 0 {
			l.Logf("node%d: bitmap slot %d of %s is clean after %d s", node, slot+1, dev, i)
			return nil
		}
		last = d
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("bitmap slot %d of %s still dirty after 60 s: %v", slot+1, dev, last)
}
