package bitmap

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// This file builds synthetic metadata images that follow the on-disk
// layout byte for byte, for tests until captures from the VM lab land in
// testdata/.

// encodeSuperblock is sb.MarshalBinary with, unless keepCsum, the
// checksum of the result stored. TestSuperblockChecksum checks it against
// the hand-written hex layout.
func encodeSuperblock(sb *Superblock, keepCsum bool) []byte {
	b, _ := sb.MarshalBinary()
	if !keepCsum {
		binary.LittleEndian.PutUint32(b[216:], Checksum(b))
	}
	return b
}

// encodeBitmapSuperblock lays s out as bitmap_super_t.
func encodeBitmapSuperblock(s *BitmapSuperblock) []byte {
	b := make([]byte, BitmapSuperblockSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], s.Magic)
	le.PutUint32(b[4:], s.Version)
	copy(b[8:], s.UUID[:])
	le.PutUint64(b[24:], s.Events)
	le.PutUint64(b[32:], s.EventsCleared)
	le.PutUint64(b[40:], s.SyncSize)
	le.PutUint32(b[48:], s.State)
	le.PutUint32(b[52:], s.ChunkSize)
	le.PutUint32(b[56:], s.DaemonSleep)
	le.PutUint32(b[60:], s.WriteBehind)
	le.PutUint32(b[64:], s.SectorsReserved)
	le.PutUint32(b[68:], s.Nodes)
	copy(b[72:], s.ClusterName[:])
	copy(b[136:], s.Pad[:])
	return b
}

var testUUID = [16]byte{0x10, 0xd4, 0x2f, 0x6e, 0x50, 0x47, 0x03, 0x13, 0xe0, 0x14, 0x6a, 0xe7, 0xb4, 0xd8, 0x71, 0xb2}

// testSuperblock returns a clean 2-disk RAID1 member superblock like mdadm
// 4.2 writes for v1.2 on a 64 MiB device, with an internal bitmap 8 sectors
// after the superblock.
func testSuperblock() *Superblock {
	sb := &Superblock{
		Magic:        SuperblockMagic,
		MajorVersion: 1,
		FeatureMap:   FeatureBitmapOffset,
		SetUUID:      testUUID,
		CTime:        1700000000,
		Level:        1,
		Size:         126976,
		RaidDisks:    2,
		BitmapOffset: 8,
		DataOffset:   4096,
		DataSize:     126976,
		SuperOffset:  8,
		DevNumber:    1,
		DeviceUUID:   [16]byte{0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		BBLogShift:   9,
		BBLogSize:    8,
		BBLogOffset:  16,
		UTime:        1700000100,
		Events:       17,
		ResyncOffset: MaxSector,
		MaxDev:       2,
		DevRoles:     []uint16{0, 1},
	}
	copy(sb.SetName[:], "node1:md0")
	return sb
}

// testBitmapSuper returns a bitmap superblock for sync size sectors.
func testBitmapSuper(version uint32, nodes uint32, syncSize uint64, chunk uint32) *BitmapSuperblock {
	s := &BitmapSuperblock{
		Magic: BitmapMagic, Version: version, UUID: testUUID, Events: 17, EventsCleared: 15,
		SyncSize: syncSize, ChunkSize: chunk, DaemonSleep: 5, Nodes: nodes,
	}
	if version == BitmapVersionClustered {
		copy(s.ClusterName[:], "mdcluster")
	}
	return s
}

// image is a synthetic member device.
type image struct {
	buf []byte
}

func (im *image) ReadAt(p []byte, off int64) (int, error) {
	return (&sparse{size: int64(len(im.buf)), flat: im.buf}).ReadAt(p, off)
}

// buildImage lays out sb (at its v1.minor location, super_offset set) and,
// if bsb is not nil, every bitmap slot with the chunks in dirty[i] set.
func buildImage(t testing.TB, minor int, devSectors uint64, sb *Superblock, bsb *BitmapSuperblock, dirty map[int][]uint64) *image {
	t.Helper()
	off, err := SuperblockOffset(minor, devSectors)
	if err != nil {
		t.Fatal(err)
	}
	sb.SuperOffset = off
	im := &image{buf: make([]byte, devSectors*SectorSize)}
	copy(im.buf[off*SectorSize:], encodeSuperblock(sb, false))
	if bsb == nil {
		return im
	}
	base := int64(off)*SectorSize + int64(sb.BitmapOffset)*SectorSize
	for i := 0; i < bsb.Slots(); i++ {
		so := base + int64(i)*int64(bsb.SlotBytes())
		copy(im.buf[so:], encodeBitmapSuperblock(bsb))
		for _, c := range dirty[i] {
			im.buf[so+BitmapSuperblockSize+int64(c/8)] |= 1 << (c % 8)
		}
	}
	return im
}

// unhex decodes hex rows; spaces and newlines are ignored.
func unhex(t testing.TB, rows ...string) []byte {
	t.Helper()
	s := strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(strings.Join(rows, ""))
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sparse is an io.ReaderAt over a mostly-zero device: pages holds the
// non-zero 4 KiB pages, flat (if set) backs the whole device.
type sparse struct {
	size    int64
	flat    []byte
	pages   map[int64][]byte
	reads   int // ReadAt calls, to check bounded reading
	bytes   int64
	maxRead int
	failAt  int64 // if > 0, reads covering this byte fail with errIO
}

var errIO = errors.New("test: i/o error")

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	s.reads++
	s.maxRead = max(s.maxRead, len(p))
	if s.failAt > 0 && off <= s.failAt && s.failAt < off+int64(len(p)) {
		return 0, errIO
	}
	if off >= s.size {
		return 0, errEOF
	}
	n := len(p)
	var err error
	if int64(n) > s.size-off {
		n, err = int(s.size-off), errEOF
	}
	s.bytes += int64(n)
	if s.flat != nil {
		copy(p, s.flat[off:off+int64(n)])
		return n, err
	}
	for i := 0; i < n; {
		pg := (off + int64(i)) / 4096
		po := (off + int64(i)) % 4096
		c := min(int64(n-i), 4096-po)
		if d, ok := s.pages[pg]; ok {
			copy(p[i:i+int(c)], d[po:po+c])
		} else {
			clear(p[i : i+int(c)])
		}
		i += int(c)
	}
	return n, err
}

// set ORs b into the sparse device at off.
func (s *sparse) set(off int64, b []byte) {
	if s.pages == nil {
		s.pages = map[int64][]byte{}
	}
	for i := range b {
		pg := (off + int64(i)) / 4096
		d, ok := s.pages[pg]
		if !ok {
			d = make([]byte, 4096)
			s.pages[pg] = d
		}
		d[(off+int64(i))%4096] |= b[i]
	}
}

var errEOF = io.EOF
