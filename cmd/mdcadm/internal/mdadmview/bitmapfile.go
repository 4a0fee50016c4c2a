package mdadmview

import (
	"errors"
	"fmt"
	"strings"

	"mdcluster.dev/bitmap"
)

// bitmapFile shows a file or device without an md superblock as an
// external bitmap file, as mdadm's ExamineBitmap does (bitmap.ReadFile
// reads it the way bitmap_fd_read does). A nodes field the file cannot
// hold is one line naming the field and exit 1.
func (r *viewer) bitmapFile(name string, m *bitmap.Device) int {
	f, err := bitmap.ReadFile(m.File, m.Size, !r.q.Brief)
	if f.Head.Err != nil {
		r.fileReadError(f.Head.Err)
		return 1
	}
	if err != nil {
		r.errf("%s: no usable bitmap%s\n", name, whyNoSuperblock(err))
		return 1
	}
	r.shortWarning(f.Head)
	s := f.Head.Super
	if s.Magic != bitmap.BitmapMagic {
		r.errf("This is an md array.  To view a bitmap you need to examine\n")
		r.errf("a member device, not the array.\n")
		r.errf("Reporting bitmap that would be used if this array were used\n")
		r.errf("as a member of some other array\n")
	}
	if s.Magic != bitmap.BitmapMagic {
		r.errf("invalid bitmap magic 0x%x, the bitmap file appears\n", s.Magic)
		r.errf("to be corrupted or missing.\n")
	}
	if s.Version < bitmap.BitmapVersionHostEndian || s.Version > bitmap.BitmapVersionClustered {
		// mdadm stops after these three lines; otherwise WriteText prints them.
		fmt.Fprintf(r.out, "        Filename : %s\n", name)
		fmt.Fprintf(r.out, "           Magic : %08x\n", s.Magic)
		fmt.Fprintf(r.out, "         Version : %d\n", int32(s.Version))
		r.errf("unknown bitmap version %d, either the bitmap file\n", int32(s.Version))
		r.errf("is corrupted or you need to upgrade your tools\n")
		return 1
	}
	x := &ExamineBitmap{Filename: name, Magic: s.Magic, Version: s.Version,
		UUID: uuidString(s.UUID), Chunksize: s.ChunkSize, DaemonSleep: s.DaemonSleep,
		WriteBehind: s.WriteBehind, SyncSizeSectors: s.SyncSize, Nodes: s.Nodes}
	if s.Nodes == 0 {
		x.Slots = []BitmapSlot{fileSlot(0, f.Head)}
	} else {
		x.ClusterName = s.Name()
		for i, sl := range f.Nodes {
			if sl.Err != nil {
				r.fileReadError(sl.Err)
				x.Slots = append(x.Slots, BitmapSlot{Slot: i})
				continue
			}
			r.shortWarning(sl)
			if sl.Super.Magic != bitmap.BitmapMagic {
				r.errf("invalid bitmap magic 0x%x, the bitmap file appears to be corrupted\n", sl.Super.Magic)
			}
			x.Slots = append(x.Slots, fileSlot(i, sl))
		}
	}
	if r.q.JSON {
		WriteJSON(r.out, x)
		return 0
	}
	var b strings.Builder
	x.WriteText(&b)
	out := b.String()
	if r.q.Brief {
		out = dropBitmapLines(out)
	}
	r.out.WriteString(out)
	return 0
}

// fileReadError is bitmap_fd_read's message for a superblock it could not
// read: strerror(errno), "Success" when the file was only short.
func (r *viewer) fileReadError(err error) {
	msg := "Success"
	if !errors.Is(err, bitmap.ErrTruncated) {
		msg = errnoText(err)
	}
	r.errf("failed to read superblock of bitmap file: %s\n", msg)
}

// shortWarning is bitmap_fd_read's warning for a file that ends before
// the bits its sync_size needs.
func (r *viewer) shortWarning(s bitmap.FileSlot) {
	if s.Short {
		r.errf("WARNING: bitmap file is not large enough for array size %d!\n\n", s.Super.SyncSize)
	}
}

func fileSlot(i int, s bitmap.FileSlot) BitmapSlot {
	pct := 100.0 * float64(s.Dirty) / float64(max(s.Bits, 1))
	return BitmapSlot{Slot: i, Events: s.Super.Events, EventsCleared: s.Super.EventsCleared,
		State: bitmapState(s.Super.State), Bits: s.Bits, Dirty: s.Dirty, DirtyPercent: pct}
}
