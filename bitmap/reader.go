package bitmap

import (
	"errors"
	"fmt"
	"io"
)

// SectorSize is the unit of every sector count in md metadata.
const SectorSize = 512

// MinDeviceSectors is the smallest device mdadm looks at (24 sectors).
const MinDeviceSectors = 24

// sbReadSize is how much super_1_load reads at the superblock location.
const sbReadSize = 4096

// Reader reads md metadata from a device or image through an io.ReaderAt.
// It never reads the whole device: superblocks are read in one 4 KiB block
// and bitmaps are streamed in bounded buffers.
type Reader struct {
	r    io.ReaderAt
	size int64
}

// NewReader returns a Reader for r, a device or image of size bytes.
func NewReader(r io.ReaderAt, size int64) *Reader { return &Reader{r: r, size: size} }

// Size returns the device size in bytes.
func (r *Reader) Size() int64 { return r.size }

// SuperblockOffset returns the sector where a v1.<minor> superblock lives on
// a device of the given size in sectors: 1.0 at (sectors-16) rounded down to
// a multiple of 8 (at least 8 KiB and less than 12 KiB from the end), 1.1 at
// 0, 1.2 at 8 (4 KiB). It fails for a device under 24 sectors, as mdadm does.
func SuperblockOffset(minor int, sectors uint64) (uint64, error) {
	if sectors < MinDeviceSectors {
		return 0, fmt.Errorf("bitmap: device of %d sectors is under %d sectors: %w", sectors, MinDeviceSectors, ErrTruncated)
	}
	switch minor {
	case 0:
		return (sectors - 16) &^ 7, nil
	case 1:
		return 0, nil
	case 2:
		return 8, nil
	}
	return 0, fmt.Errorf("bitmap: superblock minor version %d: %w", minor, ErrUnsupportedVersion)
}

// readFull reads len(p) bytes at off. A device shorter than off+len(p)
// gives ErrOutOfBounds without any read; a short read gives ErrTruncated.
func (r *Reader) readFull(p []byte, off int64, what string) error {
	if off < 0 || off > r.size || int64(len(p)) > r.size-off {
		return fmt.Errorf("bitmap: read %s: %d bytes at byte %d pass the device end (%d bytes): %w",
			what, len(p), off, r.size, ErrOutOfBounds)
	}
	n, err := r.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("bitmap: read %s at byte %d: got %d of %d bytes: %w", what, off, n, len(p), ErrTruncated)
	}
	return fmt.Errorf("bitmap: read %s at byte %d: %w", what, off, err)
}

// Superblock reads and parses the v1.<minor> superblock (minor 0, 1 or 2).
// Besides UnmarshalBinary's checks it requires super_offset to name the
// sector it was read from, as the kernel and mdadm do.
func (r *Reader) Superblock(minor int) (*Superblock, error) {
	off, err := SuperblockOffset(minor, uint64(r.size)/SectorSize)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, sbReadSize)
	if err := r.readFull(buf, int64(off)*SectorSize, fmt.Sprintf("v1.%d superblock", minor)); err != nil {
		return nil, err
	}
	sb := new(Superblock)
	if err := sb.UnmarshalBinary(buf); err != nil {
		return nil, err
	}
	if sb.SuperOffset != off {
		return nil, fieldErr(sbStruct, "super_offset", 144, sb.SuperOffset, ErrInvalidField,
			fmt.Sprintf("is not sector %d where the v1.%d superblock was read", off, minor))
	}
	return sb, nil
}

// ProbeSuperblock finds a superblock of any minor version the way mdadm's
// load_super1 does with minor version -1: it tries 1.0, 1.1 and 1.2 and
// keeps the one with the latest ctime (the first found on a tie). It
// returns the superblock and its minor version. An I/O error stops the
// probe; a location without a valid superblock is skipped. When none is
// found the error wraps ErrNoSuperblock and the reason for each location.
func (r *Reader) ProbeSuperblock() (*Superblock, int, error) {
	var best *Superblock
	bestMinor := -1
	var errs []error
	for minor := 0; minor <= 2; minor++ {
		sb, err := r.Superblock(minor)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				return nil, -1, fmt.Errorf("probe v1.%d superblock: %w", minor, err)
			}
			errs = append(errs, fmt.Errorf("v1.%d: %w", minor, err))
			continue
		}
		if best == nil || best.CTime < sb.CTime {
			best, bestMinor = sb, minor
		}
	}
	if best == nil {
		return nil, -1, fmt.Errorf("%w: %w", ErrNoSuperblock, errors.Join(errs...))
	}
	return best, bestMinor, nil
}

// BitmapOffset returns the byte offset of the bitmap (slot 0) on the device:
// super_offset plus the signed bitmap_offset, in sectors. It fails without
// FeatureBitmapOffset or when the bitmap superblock would lie outside the
// device.
func (r *Reader) BitmapOffset(sb *Superblock) (int64, error) {
	if !sb.HasBitmap() {
		return 0, fmt.Errorf("bitmap: feature_map %#x: %w", sb.FeatureMap, ErrNoBitmap)
	}
	devSectors := uint64(r.size) / SectorSize
	if sb.SuperOffset >= devSectors {
		return 0, fieldErr(sbStruct, "super_offset", 144, sb.SuperOffset, ErrOutOfBounds,
			fmt.Sprintf("is past the device end (%d sectors)", devSectors))
	}
	sector := int64(sb.SuperOffset) + int64(sb.BitmapOffset)
	if sector < 0 || sector*SectorSize+BitmapSuperblockSize > r.size {
		return 0, fieldErr(sbStruct, "bitmap_offset", 96, sb.BitmapOffset, ErrOutOfBounds,
			fmt.Sprintf("puts the bitmap at sector %d, outside the device (%d sectors)", sector, devSectors))
	}
	return sector * SectorSize, nil
}

// BitmapSuperblockAt reads and parses the bitmap superblock at byte off.
func (r *Reader) BitmapSuperblockAt(off int64) (*BitmapSuperblock, error) {
	buf := make([]byte, BitmapSuperblockSize)
	if err := r.readFull(buf, off, "bitmap superblock"); err != nil {
		return nil, err
	}
	bsb := new(BitmapSuperblock)
	if err := bsb.UnmarshalBinary(buf); err != nil {
		return nil, err
	}
	return bsb, nil
}

// BitmapSuperblock reads the bitmap superblock that sb points to (slot 0 of
// a clustered bitmap). Its UUID must be the array's, as the kernel and
// mdadm require.
func (r *Reader) BitmapSuperblock(sb *Superblock) (*BitmapSuperblock, error) {
	off, err := r.BitmapOffset(sb)
	if err != nil {
		return nil, err
	}
	bsb, err := r.BitmapSuperblockAt(off)
	if err != nil {
		return nil, err
	}
	if err := checkUUID(bsb, sb); err != nil {
		return nil, err
	}
	return bsb, nil
}

// checkUUID reports a bitmap superblock that belongs to another array.
func checkUUID(bsb *BitmapSuperblock, sb *Superblock) error {
	if bsb.UUID == sb.SetUUID {
		return nil
	}
	return fieldErr(bsbStruct, "uuid", 8, fmt.Sprintf("%x", bsb.UUID), ErrInvalidField,
		fmt.Sprintf("does not match the array UUID %x", sb.SetUUID))
}

// SlotOffsets returns the byte offset of every slot of the bitmap whose
// slot 0 superblock bsb lies at byte base: slot i starts i*SlotBytes()
// after base, as in the kernel's md_bitmap_read_sb (bm_blocks). It checks
// that all slots fit in the device.
func (r *Reader) SlotOffsets(base int64, bsb *BitmapSuperblock) ([]int64, error) {
	n := bsb.Slots()
	slot := bsb.SlotBytes()
	if base < 0 || base > r.size {
		return nil, fmt.Errorf("bitmap: bitmap at byte %d is outside the device: %w", base, ErrOutOfBounds)
	}
	avail := uint64(r.size - base)
	if slot > avail || uint64(n) > avail/slot {
		field, off, val := "sync_size", 40, any(bsb.SyncSize)
		if n > 1 && slot <= avail {
			field, off, val = "nodes", 68, any(bsb.Nodes)
		}
		return nil, fieldErr(bsbStruct, field, off, val, ErrOutOfBounds,
			fmt.Sprintf("needs %d slots of %d bytes but only %d bytes follow the bitmap", n, slot, avail))
	}
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = base + int64(i)*int64(slot)
	}
	return offs, nil
}
