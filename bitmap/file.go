package bitmap

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// fileReadSize is what mdadm's bitmap_fd_read reads at a time: the
// superblock comes from the first 8 KiB read, the bits from that read's
// rest and the reads after it.
const fileReadSize = 8192

// FileSlot is one bitmap superblock of a bitmap file and the bits counted
// after it, as mdadm's bitmap_fd_read reads them.
type FileSlot struct {
	// Super is the superblock as found, unchecked: mdadm prints whatever
	// is there, and the caller decides what a bad magic or version means.
	Super BitmapSuperblock
	// Bits and Dirty count the bits read and the set ones among them.
	// Counted is false when nothing was counted (brief, a sync_size or
	// chunksize of 0, or the file's own superblock of unknown version).
	Bits, Dirty uint64
	Counted     bool
	// Short is set when the file ended before Super.Chunks() bits:
	// mdadm's "bitmap file is not large enough" warning.
	Short bool
	// Err says why no superblock could be read here (fewer than 256
	// bytes left): mdadm's "failed to read superblock of bitmap file".
	Err error
}

// File is an external bitmap file, or a file or device without an md
// superblock read as one (mdadm --examine-bitmap).
type File struct {
	// Head is the file's own superblock at offset 0.
	Head FileSlot
	// Nodes has one slot per node of a clustered file (Head.Super.Nodes
	// not 0 and a known version). As in mdadm, each is read where the
	// previous read stopped, Head's included.
	Nodes []FileSlot
}

// ReadFile reads the bitmap file r of size bytes as mdadm's ExamineBitmap
// does; count false skips the bit counts (--brief). It never reads past
// size, so a file that holds no bitmap costs at most its size in reads,
// and it refuses a node count that cannot fit: more than MaxNodes, or
// nodes × SlotBytes() past size. Memory is one 8 KiB buffer plus the
// slots.
func ReadFile(r io.ReaderAt, size int64, count bool) (*File, error) {
	fr := &fileReader{r: r, size: size, buf: make([]byte, fileReadSize)}
	f := &File{Head: fr.slot(count, true)}
	if f.Head.Err != nil {
		return f, f.Head.Err
	}
	s := &f.Head.Super
	if s.Nodes == 0 || !knownVersion(s.Version) {
		return f, nil
	}
	nodes := int32(s.Nodes) // mdadm loops to (int)nodes: a negative count reads none
	if nodes <= 0 {
		return f, nil
	}
	if nodes > MaxNodes {
		return f, fieldErr(bsbStruct, "nodes", 68, s.Nodes, ErrInvalidField, fmt.Sprintf("exceeds %d nodes", MaxNodes))
	}
	if slot := s.SlotBytes(); uint64(nodes) > uint64(max(size, 0))/slot {
		return f, fieldErr(bsbStruct, "nodes", 68, s.Nodes, ErrOutOfBounds,
			fmt.Sprintf("needs %d slots of %d bytes but the file has %d bytes", nodes, slot, size))
	}
	f.Nodes = make([]FileSlot, nodes)
	for i := range f.Nodes {
		f.Nodes[i] = fr.slot(count, false)
	}
	return f, nil
}

func knownVersion(v uint32) bool {
	return v >= BitmapVersionHostEndian && v <= BitmapVersionClustered
}

// fileReader reads a bitmap file sequentially, like mdadm's read(2) on
// one file descriptor.
type fileReader struct {
	r    io.ReaderAt
	size int64
	pos  int64
	buf  []byte
}

// read reads up to 8 KiB at pos, never past size.
func (fr *fileReader) read() ([]byte, error) {
	n := int(min(int64(len(fr.buf)), max(fr.size-fr.pos, 0)))
	if n == 0 {
		return nil, io.EOF
	}
	got, err := fr.r.ReadAt(fr.buf[:n], fr.pos)
	fr.pos += int64(got)
	if got > 0 {
		err = nil
	}
	return fr.buf[:got], err
}

// slot reads one superblock and counts the bits after it; head is the
// file's own superblock, not counted when its version is unknown (mdadm
// prints no count then).
func (fr *fileReader) slot(count, head bool) FileSlot {
	buf, err := fr.read()
	if len(buf) < BitmapSuperblockSize {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("bitmap: file has %d bytes at byte %d, short of the 256-byte bitmap superblock: %w",
				len(buf), fr.pos-int64(len(buf)), ErrTruncated)
		}
		return FileSlot{Err: err}
	}
	s := FileSlot{Super: DecodeBitmapSuperblock(buf)}
	if !count || s.Super.SyncSize == 0 || s.Super.ChunkSize == 0 || head && !knownVersion(s.Super.Version) {
		return s
	}
	total := s.Super.Chunks()
	data := buf[BitmapSuperblockSize:]
	for s.Bits < total {
		if data == nil {
			if data, _ = fr.read(); len(data) == 0 {
				break
			}
		}
		n := min(total-s.Bits, uint64(len(data))*8)
		s.Dirty += countBits(data, n)
		s.Bits += n
		data = nil
	}
	s.Counted, s.Short = true, s.Bits < total
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

// DecodeBitmapSuperblock decodes bitmap_super_t from the first 256 bytes
// of b without any check (b must hold them): what mdadm prints of a
// bitmap file comes from the fields as they are.
func DecodeBitmapSuperblock(b []byte) BitmapSuperblock {
	le := binary.LittleEndian
	var s BitmapSuperblock
	s.Magic, s.Version = le.Uint32(b[0:]), le.Uint32(b[4:])
	copy(s.UUID[:], b[8:24])
	s.Events, s.EventsCleared, s.SyncSize = le.Uint64(b[24:]), le.Uint64(b[32:]), le.Uint64(b[40:])
	s.State, s.ChunkSize, s.DaemonSleep = le.Uint32(b[48:]), le.Uint32(b[52:]), le.Uint32(b[56:])
	s.WriteBehind, s.SectorsReserved, s.Nodes = le.Uint32(b[60:]), le.Uint32(b[64:]), le.Uint32(b[68:])
	copy(s.ClusterName[:], b[72:136])
	copy(s.Pad[:], b[136:256])
	return s
}
