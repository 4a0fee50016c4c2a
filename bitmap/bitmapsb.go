package bitmap

import "math/bits"

// BitmapMagic is the magic number of a write-intent bitmap superblock
// ("bitm" in little-endian).
const BitmapMagic = 0x6d746962

// BitmapSuperblockSize is the size of bitmap_super_t. The bits follow it
// directly.
const BitmapSuperblockSize = 256

// Bitmap superblock versions.
const (
	BitmapVersionHostEndian = 3 // bits in the writer's host byte order
	BitmapVersionLE         = 4 // bits in little-endian order
	BitmapVersionClustered  = 5 // little-endian, one slot per cluster node
	BitmapVersionLockless   = 6 // md-llbitmap; refused with ErrLocklessBitmap
)

// Bitmap superblock state bits (the kernel's bitmap->flags as stored).
const (
	BitmapStateStale      = 1 << 1 // BITMAP_STALE: out of date, full resync needed
	BitmapStateWriteError = 1 << 2 // BITMAP_WRITE_ERROR
)

// Limits applied by UnmarshalBinary.
const (
	// MaxNodes bounds nodes in a clustered bitmap. mdadm and the kernel set
	// no limit; DLM lock names ("bitmap%04d") suggest a few thousand at most.
	MaxNodes = 1024
	// MaxWriteBehind is the kernel's COUNTER_MAX.
	MaxWriteBehind = 16383
	minChunkSize   = 512
)

// BitmapSuperblock is bitmap_super_t from drivers/md/md-bitmap.h.
type BitmapSuperblock struct {
	Magic           uint32    // @0 BitmapMagic
	Version         uint32    // @4 3, 4 or 5
	UUID            [16]byte  // @8 array UUID (same bytes as set_uuid)
	Events          uint64    // @24 event count when last written
	EventsCleared   uint64    // @32 event count when bits were last cleared
	SyncSize        uint64    // @40 sectors covered (resync_max_sectors)
	State           uint32    // @48 BitmapState* bits
	ChunkSize       uint32    // @52 bytes per bit, a power of two >= 512
	DaemonSleep     uint32    // @56 seconds between flushes
	WriteBehind     uint32    // @60 max outstanding write-behind writes
	SectorsReserved uint32    // @64 sectors reserved for the bitmap
	Nodes           uint32    // @68 cluster slots (version 5)
	ClusterName     [64]byte  // @72 NUL padded (version 5)
	Pad             [120]byte // @136 zero
}

const bsbStruct = "bitmap superblock"

// UnmarshalBinary parses a bitmap superblock. Like the kernel's
// md_bitmap_read_sb it refuses bad magic, versions other than 3 to 5
// (version 6 with ErrLocklessBitmap), a chunksize below 512 or not a power
// of two, daemon_sleep 0 and write_behind above 16383; it also refuses a
// version 5 bitmap with nodes 0 or above MaxNodes.
func (s *BitmapSuperblock) UnmarshalBinary(b []byte) error {
	if len(b) < BitmapSuperblockSize {
		return fieldErr(bsbStruct, "magic", 0, len(b), ErrTruncated, "bytes are too short for the 256-byte bitmap superblock")
	}
	v := DecodeBitmapSuperblock(b)

	switch {
	case v.Magic != BitmapMagic:
		return fieldErr(bsbStruct, "magic", 0, hex32(v.Magic), ErrBadMagic, "is not 0x6d746962")
	case v.Version == BitmapVersionLockless:
		return fieldErr(bsbStruct, "version", 4, v.Version, ErrLocklessBitmap, "is the lockless bitmap, which this reader does not support")
	case v.Version < BitmapVersionHostEndian || v.Version > BitmapVersionClustered:
		return fieldErr(bsbStruct, "version", 4, v.Version, ErrUnsupportedVersion, "is not 3, 4 or 5")
	case v.ChunkSize < minChunkSize && bits.OnesCount32(v.ChunkSize) != 1:
		return fieldErr(bsbStruct, "chunksize", 52, v.ChunkSize, ErrInvalidField, "is not a power of two")
	case v.ChunkSize < minChunkSize:
		return fieldErr(bsbStruct, "chunksize", 52, v.ChunkSize, ErrInvalidField, "is smaller than 512 bytes")
	case bits.OnesCount32(v.ChunkSize) != 1:
		return fieldErr(bsbStruct, "chunksize", 52, v.ChunkSize, ErrInvalidField, "is not a power of two")
	case v.DaemonSleep == 0:
		return fieldErr(bsbStruct, "daemon_sleep", 56, v.DaemonSleep, ErrInvalidField, "is out of range (must be at least 1 second)")
	case v.WriteBehind > MaxWriteBehind:
		return fieldErr(bsbStruct, "write_behind", 60, v.WriteBehind, ErrInvalidField, "is out of range (0 - 16383)")
	case v.Version == BitmapVersionClustered && v.Nodes == 0:
		return fieldErr(bsbStruct, "nodes", 68, v.Nodes, ErrInvalidField, "is 0 in a clustered bitmap")
	case v.Version == BitmapVersionClustered && v.Nodes > MaxNodes:
		return fieldErr(bsbStruct, "nodes", 68, v.Nodes, ErrInvalidField, "exceeds 1024 nodes")
	}
	*s = v
	return nil
}

// Clustered reports whether this is a version 5 bitmap with a slot per node.
func (s *BitmapSuperblock) Clustered() bool { return s.Version == BitmapVersionClustered }

// Slots returns the number of bitmap slots: nodes for a clustered bitmap,
// else 1.
func (s *BitmapSuperblock) Slots() int {
	if s.Clustered() {
		return int(s.Nodes)
	}
	return 1
}

// Name returns cluster_name up to its first NUL.
func (s *BitmapSuperblock) Name() string { return cString(s.ClusterName[:]) }

// ChunkSectors returns the chunk size in 512-byte sectors.
func (s *BitmapSuperblock) ChunkSectors() uint64 { return uint64(s.ChunkSize) >> 9 }

// Chunks returns the number of bits: ceil(sync_size / chunk sectors), as
// the kernel's md_bitmap_resize and mdadm's bitmap_bits compute it.
func (s *BitmapSuperblock) Chunks() uint64 {
	cs := s.ChunkSectors()
	if cs == 0 {
		return 0
	}
	return s.SyncSize/cs + min(s.SyncSize%cs, 1)
}

// SlotBytes returns the space one slot takes on disk, as the kernel's
// md_bitmap_read_sb computes bm_blocks: the superblock plus ceil(chunks/8)
// bytes of bits, rounded up to 4 KiB.
func (s *BitmapSuperblock) SlotBytes() uint64 {
	n := bitBytes(s.Chunks()) + BitmapSuperblockSize
	return (n + 4095) / 4096 * 4096
}

// bitBytes is ceil(chunks/8) without the overflow of (chunks+7)/8: a
// sync_size near 2^64 must not wrap a slot's size round to a few bytes.
func bitBytes(chunks uint64) uint64 { return chunks/8 + min(chunks%8, 1) }
