package bitmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Defaults for ReadBitmap.
const (
	// DefaultBufferSize is the read size used to stream bitmap bits.
	DefaultBufferSize = 64 << 10
	// DefaultMaxExtents caps the extents kept per slot. An Extent takes 16
	// bytes, so the default holds at most 1 MiB per slot.
	DefaultMaxExtents = 1 << 16
)

// Extent is a dirty region of the array's sync range, [Start, End) in
// 512-byte sectors. End is clamped to sync_size.
type Extent struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
}

// Slot is one bitmap: the only one of a plain bitmap, or one node's slot
// of a clustered bitmap.
type Slot struct {
	Index  int               // slot number (node slot - 1 in md-cluster terms)
	Offset int64             // byte offset of the slot's bitmap superblock
	Super  *BitmapSuperblock // the slot's own superblock; nil if Err is set early
	Chunks uint64            // bits in the slot, from its sync_size and chunksize
	Dirty  uint64            // bits set
	// Extents lists dirty regions, merged, in ascending order. It holds at
	// most the MaxExtents option; ExtentsTruncated says more were dropped
	// (Dirty still counts all bits).
	Extents          []Extent
	ExtentsTruncated bool
	Err              error // why this slot could not be read, if it could not
}

// Bitmap is the internal write-intent bitmap of one md member device.
type Bitmap struct {
	Offset    int64             // byte offset of slot 0
	Super     *BitmapSuperblock // slot 0 superblock: chunksize, nodes, cluster name
	SlotBytes uint64            // bytes per slot (bm_blocks * 4096)
	Slots     []Slot
}

// Option tunes ReadBitmap.
type Option func(*options)

type options struct {
	bufSize    int
	maxExtents int
}

// WithBufferSize sets the size of the buffer bits are streamed through
// (rounded up to a multiple of 8 bytes; default DefaultBufferSize). Memory
// use for counting is this one buffer, whatever the bitmap size.
func WithBufferSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.bufSize = (n + 7) &^ 7
		}
	}
}

// WithMaxExtents caps the extents kept per slot (default
// DefaultMaxExtents). 0 keeps none, a negative n keeps all: up to one
// 16-byte Extent per two chunks, which is unbounded in the bitmap size.
func WithMaxExtents(n int) Option { return func(o *options) { o.maxExtents = n } }

// ReadBitmap reads the internal bitmap that sb points to: slot 0's
// superblock, then each slot's superblock, dirty count and dirty extents.
// Every slot's UUID must be the array's. The slot layout (count and size) comes from slot 0, as in the kernel;
// each slot's bits are counted with its own sync_size and chunksize, as
// mdadm --examine-bitmap does, and must fit in the slot.
// A slot that fails to read or parse gets Err set and the others are still
// read; the returned error then joins the slot errors, each wrapped as
// "read bitmap slot N: ...". An error in slot 0's superblock or in the
// slot layout returns a nil Bitmap.
func (r *Reader) ReadBitmap(sb *Superblock, opts ...Option) (*Bitmap, error) {
	o := options{bufSize: DefaultBufferSize, maxExtents: DefaultMaxExtents}
	for _, f := range opts {
		f(&o)
	}
	base, err := r.BitmapOffset(sb)
	if err != nil {
		return nil, err
	}
	bsb, err := r.BitmapSuperblockAt(base)
	if err == nil {
		err = checkUUID(bsb, sb)
	}
	if err != nil {
		return nil, fmt.Errorf("read bitmap slot 0: %w", err)
	}
	offs, err := r.SlotOffsets(base, bsb)
	if err != nil {
		return nil, err
	}
	bm := &Bitmap{Offset: base, Super: bsb, SlotBytes: bsb.SlotBytes(), Slots: make([]Slot, len(offs))}
	buf := make([]byte, o.bufSize)
	var errs []error
	for i, off := range offs {
		s := &bm.Slots[i]
		s.Index, s.Offset = i, off
		if err := r.readSlot(s, sb, bm.SlotBytes, buf, o.maxExtents); err != nil {
			s.Err = fmt.Errorf("read bitmap slot %d: %w", i, err)
			errs = append(errs, s.Err)
		}
	}
	return bm, errors.Join(errs...)
}

func (r *Reader) readSlot(s *Slot, sb *Superblock, slotBytes uint64, buf []byte, maxExtents int) error {
	bsb, err := r.BitmapSuperblockAt(s.Offset)
	if err != nil {
		return err
	}
	s.Super = bsb
	if err := checkUUID(bsb, sb); err != nil {
		return err
	}
	s.Chunks = bsb.Chunks()
	if need := bitBytes(s.Chunks) + BitmapSuperblockSize; need > slotBytes {
		return fieldErr(bsbStruct, "sync_size", 40, bsb.SyncSize, ErrInvalidField,
			fmt.Sprintf("needs %d bytes of bits, more than the %d-byte slot", need, slotBytes))
	}
	acc := extentAcc{max: maxExtents, chunkSectors: bsb.ChunkSectors(), syncSize: bsb.SyncSize}
	dirty, err := r.scanBits(s.Offset+BitmapSuperblockSize, s.Chunks, buf, &acc)
	s.Dirty = dirty
	s.Extents, s.ExtentsTruncated = acc.finish()
	return err
}

// scanBits streams nbits bits starting at byte off through buf, counting set
// bits and feeding runs of them to acc. Bits are in little-endian order:
// chunk i is bit i%8 of byte i/8 (test_bit_le).
func (r *Reader) scanBits(off int64, nbits uint64, buf []byte, acc *extentAcc) (uint64, error) {
	var dirty, pos uint64 // pos: index of the first chunk in buf
	for pos < nbits {
		nbytes := min(uint64(len(buf)), (nbits-pos+7)/8)
		p := buf[:nbytes]
		if err := r.readFull(p, off+int64(pos/8), "bitmap bits"); err != nil {
			return dirty, err
		}
		valid := min(nbytes*8, nbits-pos)
		for w := uint64(0); w*64 < valid; w++ {
			var word uint64
			if b := p[w*8:]; len(b) >= 8 {
				word = binary.LittleEndian.Uint64(b)
			} else {
				var tmp [8]byte
				copy(tmp[:], b)
				word = binary.LittleEndian.Uint64(tmp[:])
			}
			if left := valid - w*64; left < 64 {
				word &= 1<<left - 1
			}
			if word == 0 {
				continue
			}
			dirty += uint64(bits.OnesCount64(word))
			acc.word(pos+w*64, word)
		}
		pos += valid
	}
	return dirty, nil
}

// extentAcc merges runs of set bits into sector extents as they stream by.
type extentAcc struct {
	max          int
	chunkSectors uint64
	syncSize     uint64
	open         bool
	start, end   uint64 // current run, in chunks
	out          []Extent
	truncated    bool
}

// word adds the set bits of word, whose bit 0 is chunk base.
func (a *extentAcc) word(base, word uint64) {
	if a.truncated {
		return // the list is full; only the count goes on
	}
	for shift := uint64(0); word != 0; {
		tz := uint64(bits.TrailingZeros64(word))
		word >>= tz
		shift += tz
		ones := uint64(bits.TrailingZeros64(^word)) // 64 when word is all ones
		a.run(base+shift, base+shift+ones)
		if ones == 64 {
			return
		}
		word >>= ones
		shift += ones
	}
}

func (a *extentAcc) run(start, end uint64) {
	if a.open && a.end == start {
		a.end = end
		return
	}
	a.flush()
	a.open, a.start, a.end = true, start, end
}

func (a *extentAcc) flush() {
	if !a.open {
		return
	}
	a.open = false
	if a.max >= 0 && len(a.out) >= a.max {
		a.truncated = true
		return
	}
	end := a.syncSize // the last chunk may be partial; avoid overflow too
	if a.end <= a.syncSize/a.chunkSectors {
		end = a.end * a.chunkSectors
	}
	a.out = append(a.out, Extent{Start: a.start * a.chunkSectors, End: end})
}

func (a *extentAcc) finish() ([]Extent, bool) {
	a.flush()
	return a.out, a.truncated
}
