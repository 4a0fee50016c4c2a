package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// The lab reads md's bitmaps with mdadm --examine-bitmap (mdadm -X), md's own tool, so that what
// the agent, the exporter and mdcadm show of a bitmap is checked against an independent reader.
// readExamineBitmap is the one parser of its text; every scenario goes through it.

// dirtyBits returns the dirty-chunk count of every bitmap slot mdadm -X reports for dev, in slot
// order.
func dirtyBits(ctx context.Context, l *vmlab.Lab, node int, dev string) ([]int, error) {
	// md writes bitmaps behind the page cache: drop it so mdadm reads what is on disk.
	out, err := step(ctx, l, node, quick, "mdadm --examine-bitmap "+dev, examineBitmap+dev)
	if err != nil {
		return nil, err
	}
	return readDirty(dev, out)
}

const examineBitmap = "sync; echo 3 > /proc/sys/vm/drop_caches; mdadm --examine-bitmap "

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
		d, err := readDirty(dev, r.Stdout)
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

// examinedBitmap is mdadm --examine-bitmap's text read once.
type examinedBitmap struct {
	out    string
	fields map[string]string // every "Name : value" line, the first of each name, trimmed
	slots  []bitmapSlot      // in slot order
	// nodeSlots is set when the bitmap has cluster slots ("Node Slot" lines); without them the
	// whole bitmap is one slot.
	nodeSlots bool
	// withBitmap lists the slots that have a "Bitmap : N bits (chunks), M dirty" line.
	withBitmap []int
}

// bitmapSlot is one slot as mdadm --examine-bitmap shows it.
type bitmapSlot struct{ events, chunks, dirty float64 }

// readExamineBitmap parses mdadm --examine-bitmap's output: the header's fields, then per slot
// its "Events" and "Bitmap : N bits (chunks), M dirty (P%)" lines. A "Node Slot" line starts a
// slot; a bitmap without cluster slots has one, started by its first Events or Bitmap line.
func readExamineBitmap(out string) (examinedBitmap, error) {
	x := examinedBitmap{out: out, fields: map[string]string{}}
	cur := func() *bitmapSlot {
		if len(x.slots) == 0 {
			x.slots = append(x.slots, bitmapSlot{})
		}
		return &x.slots[len(x.slots)-1]
	}
	for _, ln := range vmlab.Lines(out) {
		k, v, ok := strings.Cut(ln, " : ")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := x.fields[k]; !seen {
			x.fields[k] = v
		}
		switch k {
		case "Node Slot":
			x.nodeSlots = true
			x.slots = append(x.slots, bitmapSlot{})
		case "Events":
			if _, err := fmt.Sscanf(v, "%g", &cur().events); err != nil {
				return x, fmt.Errorf("mdadm -X events %q: %w", v, err)
			}
		case "Bitmap":
			sl := cur()
			if _, err := fmt.Sscanf(v, "%g bits (chunks), %g dirty", &sl.chunks, &sl.dirty); err != nil {
				return x, fmt.Errorf("mdadm -X bitmap %q: %w", v, err)
			}
			x.withBitmap = append(x.withBitmap, len(x.slots)-1)
		}
	}
	return x, nil
}

// field returns a numeric field of the header ("Cluster nodes").
func (x examinedBitmap) field(name string) (float64, error) {
	v, ok := x.fields[name]
	if !ok {
		return 0, fmt.Errorf("mdadm --examine-bitmap shows no %q:\n%s", name, x.out)
	}
	return strconv.ParseFloat(v, 64)
}

// clusterSlots returns the slots of a clustered bitmap.
func (x examinedBitmap) clusterSlots() ([]bitmapSlot, error) {
	if !x.nodeSlots {
		return nil, fmt.Errorf("mdadm --examine-bitmap shows no node slot:\n%s", x.out)
	}
	return x.slots, nil
}

// only returns the slot of a bitmap without cluster slots (zero if mdadm showed none).
func (x examinedBitmap) only() bitmapSlot {
	if len(x.slots) == 0 {
		return bitmapSlot{}
	}
	return x.slots[len(x.slots)-1]
}

// readDirty returns the dirty-chunk count of every slot mdadm -X showed a bitmap line for, in
// slot order.
func readDirty(dev, out string) ([]int, error) {
	x, err := readExamineBitmap(out)
	if err != nil {
		return nil, err
	}
	var dirty []int
	for _, i := range x.withBitmap {
		dirty = append(dirty, int(x.slots[i].dirty))
	}
	if len(dirty) == 0 {
		return nil, fmt.Errorf("mdadm -X %s printed no bitmap line:\n%s", dev, out)
	}
	return dirty, nil
}
