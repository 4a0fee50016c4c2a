package mdadmview

import (
	"bytes"
	"fmt"
	"io"

	"mdcluster.dev/bitmap"
)

// BitmapSlot is one node slot of `mdadm --examine-bitmap`.
type BitmapSlot struct {
	Slot          int     `json:"slot"`
	Events        uint64  `json:"events"`
	EventsCleared uint64  `json:"events_cleared"`
	State         string  `json:"state"`
	Bits          uint64  `json:"bits"`
	Dirty         uint64  `json:"dirty"`
	DirtyPercent  float64 `json:"dirty_percent"`
	// DirtyExtents are the dirty regions in array sectors [start, end);
	// not printed by mdadm.
	DirtyExtents     []bitmap.Extent `json:"dirty_extents,omitempty"`
	ExtentsTruncated bool            `json:"extents_truncated,omitempty"`
	Error            string          `json:"error,omitempty"`
}

// ExamineBitmap is the data of `mdadm --examine-bitmap` (-X) for a member
// device's internal bitmap.
type ExamineBitmap struct {
	Filename        string `json:"filename"`
	Magic           uint32 `json:"magic"`
	Version         uint32 `json:"version"`
	UUID            string `json:"uuid"`
	Chunksize       uint32 `json:"chunksize"` // bytes
	DaemonSleep     uint32 `json:"daemon_sleep"`
	WriteBehind     uint32 `json:"write_behind"`
	SyncSizeSectors uint64 `json:"sync_size_sectors"` // printed in KiB
	// Nodes is the nodes field; mdadm prints the cluster form when it is
	// not 0.
	Nodes       uint32 `json:"nodes"`
	ClusterName string `json:"cluster_name,omitempty"`
	// Slots has one entry for a plain bitmap (its Events, State and Bitmap
	// lines are printed without a "Node Slot" line) and one per node for a
	// clustered one.
	Slots []BitmapSlot `json:"slots"`
}

// bitmapState is bitmap.c's bitmap_state: map_num(bitmap_states, state).
func bitmapState(state uint32) string {
	switch state {
	case 0:
		return "OK"
	case 2:
		return "Out of date"
	}
	return "Unknown"
}

// NewExamineBitmap computes what mdadm --examine-bitmap shows for bm, read
// from the member device named filename.
func NewExamineBitmap(filename string, bm *bitmap.Bitmap) *ExamineBitmap {
	s := bm.Super
	x := &ExamineBitmap{
		Filename:        filename,
		Magic:           s.Magic,
		Version:         s.Version,
		UUID:            uuidString(s.UUID),
		Chunksize:       s.ChunkSize,
		DaemonSleep:     s.DaemonSleep,
		WriteBehind:     s.WriteBehind,
		SyncSizeSectors: s.SyncSize,
		Nodes:           s.Nodes,
	}
	if s.Nodes != 0 {
		x.ClusterName = cstr(s.ClusterName[:], 64)
	}
	for _, sl := range bm.Slots {
		bs := BitmapSlot{Slot: sl.Index, Bits: sl.Chunks, Dirty: sl.Dirty,
			DirtyExtents: sl.Extents, ExtentsTruncated: sl.ExtentsTruncated}
		if sl.Super != nil {
			bs.Events, bs.EventsCleared, bs.State = sl.Super.Events, sl.Super.EventsCleared, bitmapState(sl.Super.State)
		}
		total := sl.Chunks
		if total == 0 {
			total = 1
		}
		bs.DirtyPercent = 100.0 * float64(sl.Dirty) / float64(total)
		if sl.Err != nil {
			bs.Error = sl.Err.Error()
		}
		x.Slots = append(x.Slots, bs)
	}
	return x
}

// WriteText writes x as mdadm 4.2 --examine-bitmap prints it on stdout.
// A slot that could not be read prints mdadm's "Unable to read bitmap on
// node" line.
func (x *ExamineBitmap) WriteText(w io.Writer) error {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	bitsLine := func(s BitmapSlot) {
		p("          Bitmap : %d bits (chunks), %d dirty (%2.1f%%)\n", s.Bits, s.Dirty, s.DirtyPercent)
	}
	p("        Filename : %s\n", x.Filename)
	p("           Magic : %08x\n", x.Magic)
	p("         Version : %d\n", int32(x.Version))
	p("            UUID : %s\n", x.UUID)
	if x.Nodes == 0 && len(x.Slots) > 0 {
		s := x.Slots[0]
		p("          Events : %d\n", s.Events)
		p("  Events Cleared : %d\n", s.EventsCleared)
		p("           State : %s\n", s.State)
	}
	p("       Chunksize : %s\n", humanChunksize(uint64(x.Chunksize)))
	p("          Daemon : %ds flush period\n", int32(x.DaemonSleep))
	if x.WriteBehind != 0 {
		p("      Write Mode : Allow write behind, max %d\n", int32(x.WriteBehind))
	} else {
		p("      Write Mode : Normal\n")
	}
	p("       Sync Size : %d%s\n", x.SyncSizeSectors/2, humanSize(int64(x.SyncSizeSectors*512)))
	if x.Nodes == 0 {
		if len(x.Slots) > 0 {
			bitsLine(x.Slots[0])
		}
	} else {
		p("   Cluster nodes : %d\n", int32(x.Nodes))
		p("    Cluster name : %-64s\n", x.ClusterName)
		for _, s := range x.Slots {
			if s.State == "" { // no superblock could be read for this slot
				p("   Unable to read bitmap on node: %d\n", s.Slot)
				continue
			}
			p("       Node Slot : %d\n", s.Slot)
			p("          Events : %d\n", s.Events)
			p("  Events Cleared : %d\n", s.EventsCleared)
			p("           State : %s\n", s.State)
			bitsLine(s)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
