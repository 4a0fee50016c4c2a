package cli

import (
	"errors"
	"fmt"
	"strings"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
)

// bitmapFile shows a file or device without an md superblock as an
// external bitmap file, as mdadm's ExamineBitmap does (bitmap.ReadFile
// reads it the way bitmap_fd_read does). A nodes field the file cannot
// hold is one line naming the field and exit 1.
func (r *runner) bitmapFile(name string, m *member) int {
	f, err := bitmap.ReadFile(m.f, m.size, !r.c.Brief)
	if f.Head.Err != nil {
		r.fileReadError(f.Head.Err)
		return 1
	}
	if err != nil {
		r.env.errf("%s: no usable bitmap%s\n", name, whyNoSuperblock(err))
		return 1
	}
	r.shortWarning(f.Head)
	s := f.Head.Super
	if s.Magic != bitmap.BitmapMagic {
		r.env.errf("This is an md array.  To view a bitmap you need to examine\n")
		r.env.errf("a member device, not the array.\n")
		r.env.errf("Reporting bitmap that would be used if this array were used\n")
		r.env.errf("as a member of some other array\n")
	}
	if s.Magic != bitmap.BitmapMagic {
		r.env.errf("invalid bitmap magic 0x%x, the bitmap file appears\n", s.Magic)
		r.env.errf("to be corrupted or missing.\n")
	}
	if s.Version < bitmap.BitmapVersionHostEndian || s.Version > bitmap.BitmapVersionClustered {
		// mdadm stops after these three lines; otherwise WriteText prints them.
		fmt.Fprintf(r.out, "        Filename : %s\n", name)
		fmt.Fprintf(r.out, "           Magic : %08x\n", s.Magic)
		fmt.Fprintf(r.out, "         Version : %d\n", int32(s.Version))
		r.env.errf("unknown bitmap version %d, either the bitmap file\n", int32(s.Version))
		r.env.errf("is corrupted or you need to upgrade your tools\n")
		return 1
	}
	x := &mdadmview.ExamineBitmap{Filename: name, Magic: s.Magic, Version: s.Version,
		UUID: uuidColon(s.UUID), Chunksize: s.ChunkSize, DaemonSleep: s.DaemonSleep,
		WriteBehind: s.WriteBehind, SyncSizeSectors: s.SyncSize, Nodes: s.Nodes}
	if s.Nodes == 0 {
		x.Slots = []mdadmview.BitmapSlot{fileSlot(0, f.Head)}
	} else {
		x.ClusterName = s.Name()
		for i, sl := range f.Nodes {
			if sl.Err != nil {
				r.fileReadError(sl.Err)
				x.Slots = append(x.Slots, mdadmview.BitmapSlot{Slot: i})
				continue
			}
			r.shortWarning(sl)
			if sl.Super.Magic != bitmap.BitmapMagic {
				r.env.errf("invalid bitmap magic 0x%x, the bitmap file appears to be corrupted\n", sl.Super.Magic)
			}
			x.Slots = append(x.Slots, fileSlot(i, sl))
		}
	}
	if r.c.JSON {
		mdadmview.WriteJSON(r.out, x)
		return 0
	}
	var b strings.Builder
	x.WriteText(&b)
	out := b.String()
	if r.c.Brief {
		out = dropBitmapLines(out)
	}
	r.out.WriteString(out)
	return 0
}

// fileReadError is bitmap_fd_read's message for a superblock it could not
// read: strerror(errno), "Success" when the file was only short.
func (r *runner) fileReadError(err error) {
	msg := "Success"
	if !errors.Is(err, bitmap.ErrTruncated) {
		msg = errnoText(err)
	}
	r.env.errf("failed to read superblock of bitmap file: %s\n", msg)
}

// shortWarning is bitmap_fd_read's warning for a file that ends before
// the bits its sync_size needs.
func (r *runner) shortWarning(s bitmap.FileSlot) {
	if s.Short {
		r.env.errf("WARNING: bitmap file is not large enough for array size %d!\n\n", s.Super.SyncSize)
	}
}

func fileSlot(i int, s bitmap.FileSlot) mdadmview.BitmapSlot {
	pct := 100.0 * float64(s.Dirty) / float64(max(s.Bits, 1))
	return mdadmview.BitmapSlot{Slot: i, Events: s.Super.Events, EventsCleared: s.Super.EventsCleared,
		State: bitmapStateName(s.Super.State), Bits: s.Bits, Dirty: s.Dirty, DirtyPercent: pct}
}

func bitmapStateName(state uint32) string {
	switch state {
	case 0:
		return "OK"
	case 2:
		return "Out of date"
	}
	return "Unknown"
}

// uuidColon formats 16 bytes as mdadm does: four groups of 8 hex digits.
func uuidColon(u [16]byte) string {
	return fmt.Sprintf("%x:%x:%x:%x", u[0:4], u[4:8], u[8:12], u[12:16])
}
