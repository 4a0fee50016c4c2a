package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

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

// parseExamineBitmap returns mdadm's events and dirty chunk count of the bitmap.
func parseExamineBitmap(out string) (events, chunks, dirty float64, err error) {
	for _, ln := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(ln, " : ")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Events":
			events, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
		case "Bitmap":
			_, err = fmt.Sscanf(strings.TrimSpace(v), "%g bits (chunks), %g dirty", &chunks, &dirty)
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("mdadm --examine-bitmap: %q: %w", ln, err)
		}
	}
	return events, chunks, dirty, nil
}

// examineField returns a numeric field of mdadm --examine-bitmap's header.
func examineField(out, field string) (float64, error) {
	for _, ln := range vmlab.Lines(out) {
		if k, v, ok := strings.Cut(ln, " : "); ok && strings.TrimSpace(k) == field {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("mdadm --examine-bitmap shows no %q:\n%s", field, out)
}

// bitmapSlot is one slot as mdadm --examine-bitmap shows it.
type bitmapSlot struct{ events, chunks, dirty float64 }

// examineSlots splits mdadm --examine-bitmap of a clustered bitmap at its "Node Slot" lines.
func examineSlots(out string) ([]bitmapSlot, error) {
	var slots []bitmapSlot
	for _, ln := range vmlab.Lines(out) {
		k, v, ok := strings.Cut(ln, " : ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "Node Slot":
			slots = append(slots, bitmapSlot{})
		case "Events":
			if len(slots) > 0 {
				if _, err := fmt.Sscanf(v, "%g", &slots[len(slots)-1].events); err != nil {
					return nil, fmt.Errorf("mdadm -X events %q: %w", v, err)
				}
			}
		case "Bitmap":
			if len(slots) > 0 {
				sl := &slots[len(slots)-1]
				if _, err := fmt.Sscanf(v, "%g bits (chunks), %g dirty", &sl.chunks, &sl.dirty); err != nil {
					return nil, fmt.Errorf("mdadm -X bitmap %q: %w", v, err)
				}
			}
		}
	}
	if len(slots) == 0 {
		return nil, fmt.Errorf("mdadm --examine-bitmap shows no node slot:\n%s", out)
	}
	return slots, nil
}
