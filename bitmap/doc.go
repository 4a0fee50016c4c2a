// Package bitmap reads Linux md metadata from member devices, read-only and
// in pure Go: the v1.x superblock (struct mdp_superblock_1) and the
// internal write-intent bitmap (bitmap_super_t and its bits), including the
// per-node slots of an md-cluster (version 5) bitmap.
//
// Parsing is separate from reading. Superblock.UnmarshalBinary and
// BitmapSuperblock.UnmarshalBinary check the length and magic first, then
// read fields at fixed little-endian offsets. A Reader over an io.ReaderAt
// and a size locates the structures as the kernel and mdadm do:
//
//   - superblock v1.0 at (sectors-16) rounded down to 8 sectors, v1.1 at 0,
//     v1.2 at 8 sectors (SuperblockOffset); ProbeSuperblock tries all three;
//   - the bitmap at super_offset + bitmap_offset sectors (signed);
//   - slot i of a clustered bitmap i*bm_blocks 4 KiB blocks further, where
//     bm_blocks = ceil((ceil(sync_size/(chunksize>>9)) + 7)/8 + 256, 4096)
//     bytes (BitmapSuperblock.SlotBytes), as in md_bitmap_read_sb.
//
// Bits follow each slot's 256-byte superblock; chunk i is bit i%8 of byte
// i/8 (test_bit_le). Version 3 bitmaps are host-endian and are read as
// little-endian, which is right for x86 and arm64 writers. Version 6
// (the lockless llbitmap) is refused with ErrLocklessBitmap.
//
// Reads are bounded: a superblock is one 4 KiB read and bitmap bits are
// streamed through one buffer (WithBufferSize, 64 KiB by default), so
// counting millions of chunks per slot never holds the bitmap in memory.
// Dirty extents are merged while streaming; WithMaxExtents caps the list.
//
// Every error wraps a sentinel (ErrTruncated, ErrBadMagic, ...); a bad
// field is a *FieldError naming the structure, field and byte offset.
// Sub-package mdadmview renders the data as mdadm --examine and
// --examine-bitmap do.
package bitmap
