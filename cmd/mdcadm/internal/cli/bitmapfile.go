package cli

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/bitmap/mdadmview"
)

// bitmapFile shows a file or device without an md superblock as an
// external bitmap file, as mdadm's ExamineBitmap does: it reads the
// bitmap superblock at offset 0 and counts the bits after it, reading
// sequentially in 8 KiB pieces like bitmap_fd_read (a clustered file's
// next slot starts where the previous read stopped).
func (r *runner) bitmapFile(name string, m *member) int {
	pos := int64(0)
	read := func() ([]byte, error) {
		buf := make([]byte, 8192)
		n, err := m.f.ReadAt(buf, pos)
		pos += int64(n)
		if n > 0 {
			err = nil
		}
		return buf[:n], err
	}
	type info struct {
		s            bitmap.BitmapSuperblock
		total, dirty uint64
	}
	// first: the file's own superblock; mdadm prints none of its counts
	// when its version is unknown, so they are not counted then (a large
	// file or device that holds no bitmap is not read through).
	fdRead := func(first bool) (*info, bool) {
		buf, err := read()
		if len(buf) < bitmap.BitmapSuperblockSize {
			msg := "Success"
			if err != nil {
				msg = errnoText(err)
			}
			r.env.errf("failed to read superblock of bitmap file: %s\n", msg)
			return nil, false
		}
		in := &info{s: rawBitmapSuper(buf)}
		badVersion := in.s.Version < bitmap.BitmapVersionHostEndian || in.s.Version > bitmap.BitmapVersionClustered
		if r.c.Brief || in.s.SyncSize == 0 || in.s.ChunkSize == 0 || first && badVersion {
			return in, true
		}
		total := (in.s.SyncSize + uint64(in.s.ChunkSize>>9) - 1) / uint64(in.s.ChunkSize>>9)
		if in.s.ChunkSize>>9 == 0 {
			total = 0 // mdadm divides by zero here; count nothing
		}
		var done uint64
		data := buf[bitmap.BitmapSuperblockSize:]
		for done < total {
			if data == nil {
				if data, _ = read(); len(data) == 0 {
					break
				}
			}
			n := min(total-done, uint64(len(data))*8)
			in.dirty += countBits(data, n)
			done += n
			data = nil
		}
		if done < total {
			r.env.errf("WARNING: bitmap file is not large enough for array size %d!\n\n", in.s.SyncSize)
			total = done
		}
		in.total = total
		return in, true
	}
	in, ok := fdRead(true)
	if !ok {
		return 1
	}
	s := in.s
	if s.Magic != bitmap.BitmapMagic {
		r.env.errf("This is an md array.  To view a bitmap you need to examine\n")
		r.env.errf("a member device, not the array.\n")
		r.env.errf("Reporting bitmap that would be used if this array were used\n")
		r.env.errf("as a member of some other array\n")
	}
	fmt.Fprintf(r.out, "        Filename : %s\n", name)
	fmt.Fprintf(r.out, "           Magic : %08x\n", s.Magic)
	if s.Magic != bitmap.BitmapMagic {
		r.env.errf("invalid bitmap magic 0x%x, the bitmap file appears\n", s.Magic)
		r.env.errf("to be corrupted or missing.\n")
	}
	if s.Version < bitmap.BitmapVersionHostEndian || s.Version > bitmap.BitmapVersionClustered {
		fmt.Fprintf(r.out, "         Version : %d\n", int32(s.Version))
		r.env.errf("unknown bitmap version %d, either the bitmap file\n", int32(s.Version))
		r.env.errf("is corrupted or you need to upgrade your tools\n")
		return 1
	}
	x := &mdadmview.ExamineBitmap{Filename: name, Magic: s.Magic, Version: s.Version,
		UUID: uuidColon(s.UUID), Chunksize: s.ChunkSize, DaemonSleep: s.DaemonSleep,
		WriteBehind: s.WriteBehind, SyncSizeSectors: s.SyncSize, Nodes: s.Nodes}
	slot := func(i int, in *info) mdadmview.BitmapSlot {
		pct := 100.0 * float64(in.dirty) / float64(max(in.total, 1))
		return mdadmview.BitmapSlot{Slot: i, Events: in.s.Events, EventsCleared: in.s.EventsCleared,
			State: bitmapStateName(in.s.State), Bits: in.total, Dirty: in.dirty, DirtyPercent: pct}
	}
	if s.Nodes == 0 {
		x.Slots = []mdadmview.BitmapSlot{slot(0, in)}
	} else {
		x.ClusterName = strings.TrimRight(string(s.ClusterName[:]), "\x00")
		if i := strings.IndexByte(x.ClusterName, 0); i >= 0 {
			x.ClusterName = x.ClusterName[:i]
		}
		for i := 0; i < int(int32(s.Nodes)); i++ {
			in, ok := fdRead(false)
			if !ok {
				x.Slots = append(x.Slots, mdadmview.BitmapSlot{Slot: i})
				continue
			}
			if in.s.Magic != bitmap.BitmapMagic {
				r.env.errf("invalid bitmap magic 0x%x, the bitmap file appears to be corrupted\n", in.s.Magic)
			}
			x.Slots = append(x.Slots, slot(i, in))
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

// rawBitmapSuper decodes bitmap_super_t without any check (mdadm prints
// whatever is there).
func rawBitmapSuper(b []byte) bitmap.BitmapSuperblock {
	le := binary.LittleEndian
	var s bitmap.BitmapSuperblock
	s.Magic, s.Version = le.Uint32(b[0:]), le.Uint32(b[4:])
	copy(s.UUID[:], b[8:24])
	s.Events, s.EventsCleared, s.SyncSize = le.Uint64(b[24:]), le.Uint64(b[32:]), le.Uint64(b[40:])
	s.State, s.ChunkSize, s.DaemonSleep = le.Uint32(b[48:]), le.Uint32(b[52:]), le.Uint32(b[56:])
	s.WriteBehind, s.SectorsReserved, s.Nodes = le.Uint32(b[60:]), le.Uint32(b[64:]), le.Uint32(b[68:])
	copy(s.ClusterName[:], b[72:136])
	return s
}

// countBits counts the set bits among the first n bits of b (LSB first).
func countBits(b []byte, n uint64) uint64 {
	var c uint64
	full := n / 8
	for _, v := range b[:full] {
		c += uint64(bits.OnesCount8(v))
	}
	if rem := n % 8; rem != 0 {
		c += uint64(bits.OnesCount8(b[full] & (1<<rem - 1)))
	}
	return c
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
