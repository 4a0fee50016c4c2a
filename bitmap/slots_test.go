package bitmap

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// 992 chunks of 64 KiB (128 sectors) cover the 126976-sector test array.
const (
	testSync  = 126976
	testChunk = 65536
)

func TestReadBitmapPlain(t *testing.T) {
	sb := testSuperblock()
	bsb := testBitmapSuper(4, 0, testSync, testChunk)
	im := buildImage(t, 2, devSectors, sb, bsb, map[int][]uint64{0: {0, 1, 2, 10, 63, 64, 991}})
	bm, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
	if err != nil {
		t.Fatal(err)
	}
	want := &Bitmap{
		Offset: 16 * SectorSize, Super: bsb, SlotBytes: 4096,
		Slots: []Slot{{
			Index: 0, Offset: 16 * SectorSize, Super: bsb, Chunks: 992, Dirty: 7,
			Extents: []Extent{{0, 384}, {1280, 1408}, {8064, 8320}, {126848, 126976}},
		}},
	}
	if diff := cmp.Diff(want, bm); diff != "" {
		t.Errorf("bitmap (-want +got):\n%s", diff)
	}
}

func TestReadBitmapClustered(t *testing.T) {
	sb := testSuperblock()
	sb.FeatureMap |= FeatureClustered
	bsb := testBitmapSuper(5, 4, testSync+1, testChunk) // partial last chunk: 993 bits
	all := make([]uint64, 993)
	for i := range all {
		all[i] = uint64(i)
	}
	im := buildImage(t, 2, devSectors, sb, bsb, map[int][]uint64{0: all, 2: {5, 992}})
	// Bits past the last chunk are garbage and must be ignored.
	base := 16*SectorSize + BitmapSuperblockSize
	im.buf[base+2*4096+124] |= 0xfe
	bm, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Offset  int64
		Dirty   uint64
		Extents []Extent
	}
	var got []summary
	for _, s := range bm.Slots {
		if s.Chunks != 993 {
			t.Errorf("slot %d: Chunks = %d, want 993", s.Index, s.Chunks)
		}
		got = append(got, summary{s.Offset, s.Dirty, s.Extents})
	}
	want := []summary{
		{8192, 993, []Extent{{0, testSync + 1}}},
		{8192 + 4096, 0, nil},
		{8192 + 2*4096, 2, []Extent{{640, 768}, {126976, 126977}}},
		{8192 + 3*4096, 0, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
}

func TestReadBitmapErrors(t *testing.T) {
	t.Run("bad slot", func(t *testing.T) {
		sb := testSuperblock()
		bsb := testBitmapSuper(5, 3, testSync, testChunk)
		im := buildImage(t, 2, devSectors, sb, bsb, map[int][]uint64{2: {1}})
		im.buf[8192+4096] = 0 // slot 1 magic
		bm, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
		if !errors.Is(err, ErrBadMagic) || !strings.Contains(err.Error(), "read bitmap slot 1: bitmap: bitmap superblock field magic at offset 0") {
			t.Fatalf("err = %v, want bad magic in slot 1", err)
		}
		if bm == nil || bm.Slots[1].Err == nil || bm.Slots[0].Err != nil || bm.Slots[2].Dirty != 1 {
			t.Fatalf("slots = %+v, want only slot 1 failed", bm)
		}
	})
	t.Run("slot bigger than slot 0", func(t *testing.T) {
		sb := testSuperblock()
		bsb := testBitmapSuper(5, 2, testSync, testChunk)
		im := buildImage(t, 2, devSectors, sb, bsb, nil)
		big := *bsb
		big.ChunkSize = 512 // 126976 bits: needs more than one 4 KiB block
		copy(im.buf[8192+4096:], encodeBitmapSuperblock(&big))
		_, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "sync_size" || !strings.Contains(err.Error(), "read bitmap slot 1") {
			t.Fatalf("err = %v, want sync_size error in slot 1", err)
		}
	})
	t.Run("nodes past the device end", func(t *testing.T) {
		sb := testSuperblock()
		bsb := testBitmapSuper(5, 2, testSync, testChunk)
		im := buildImage(t, 2, devSectors, sb, bsb, nil)
		bsb.Nodes, bsb.ChunkSize, bsb.SyncSize = 1000, 512, 1<<20 // 1000 slots of 132 KiB > 64 MiB
		copy(im.buf[8192:], encodeBitmapSuperblock(bsb))
		_, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
		var fe *FieldError
		if !errors.Is(err, ErrOutOfBounds) || !errors.As(err, &fe) || fe.Field != "nodes" || fe.Offset != 68 {
			t.Fatalf("err = %v, want nodes out of bounds", err)
		}
	})
	t.Run("sync_size past the device end", func(t *testing.T) {
		sb := testSuperblock()
		bsb := testBitmapSuper(4, 0, 1<<40, 512)
		im := buildImage(t, 2, devSectors, sb, testBitmapSuper(4, 0, testSync, testChunk), nil)
		copy(im.buf[8192:], encodeBitmapSuperblock(bsb))
		_, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
		var fe *FieldError
		if !errors.Is(err, ErrOutOfBounds) || !errors.As(err, &fe) || fe.Field != "sync_size" {
			t.Fatalf("err = %v, want sync_size out of bounds", err)
		}
	})
	t.Run("uuid of another array", func(t *testing.T) {
		sb := testSuperblock()
		bsb := testBitmapSuper(5, 2, testSync, testChunk)
		im := buildImage(t, 2, devSectors, sb, bsb, nil)
		r := NewReader(im, int64(len(im.buf)))
		im.buf[8192+4096+8] ^= 1 // slot 1 uuid
		bm, err := r.ReadBitmap(sb)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "uuid" || fe.Offset != 8 || bm.Slots[1].Super == nil {
			t.Fatalf("slot 1: err = %v, want uuid field error with the superblock kept", err)
		}
		im.buf[8192+8] ^= 1 // slot 0 uuid
		if _, err := r.ReadBitmap(sb); !errors.As(err, &fe) || fe.Field != "uuid" {
			t.Fatalf("slot 0: err = %v, want uuid field error", err)
		}
		if _, err := r.BitmapSuperblock(sb); !errors.As(err, &fe) || fe.Field != "uuid" {
			t.Fatalf("BitmapSuperblock: err = %v, want uuid field error", err)
		}
	})
	t.Run("lockless", func(t *testing.T) {
		sb := testSuperblock()
		im := buildImage(t, 2, devSectors, sb, testBitmapSuper(4, 0, testSync, testChunk), nil)
		im.buf[8192+4] = 6
		_, err := NewReader(im, int64(len(im.buf))).ReadBitmap(sb)
		if !errors.Is(err, ErrLocklessBitmap) || !strings.HasPrefix(err.Error(), "read bitmap slot 0: ") {
			t.Fatalf("err = %v, want ErrLocklessBitmap", err)
		}
	})
	t.Run("i/o error in the bits", func(t *testing.T) {
		sb := testSuperblock()
		im := buildImage(t, 2, devSectors, sb, testBitmapSuper(4, 0, testSync, testChunk), nil)
		dev := &sparse{size: int64(len(im.buf)), flat: im.buf, failAt: 8192 + 300}
		_, err := NewReader(dev, dev.size).ReadBitmap(sb)
		if !errors.Is(err, errIO) {
			t.Fatalf("err = %v, want the i/o error", err)
		}
	})
}

func TestExtentCap(t *testing.T) {
	sb := testSuperblock()
	bsb := testBitmapSuper(4, 0, testSync, testChunk)
	im := buildImage(t, 2, devSectors, sb, bsb, map[int][]uint64{0: {1, 3, 5, 7, 9}})
	r := NewReader(im, int64(len(im.buf)))
	for _, tt := range []struct {
		max       int
		n         int
		truncated bool
	}{{-1, 5, false}, {0, 0, true}, {2, 2, true}, {5, 5, false}} {
		bm, err := r.ReadBitmap(sb, WithMaxExtents(tt.max))
		if err != nil {
			t.Fatal(err)
		}
		s := bm.Slots[0]
		if len(s.Extents) != tt.n || s.ExtentsTruncated != tt.truncated || s.Dirty != 5 {
			t.Errorf("max %d: %d extents, truncated %v, dirty %d; want %d, %v, 5",
				tt.max, len(s.Extents), s.ExtentsTruncated, s.Dirty, tt.n, tt.truncated)
		}
	}
}

// naiveScan counts and merges bits one at a time, as mdadm's
// count_dirty_bits and the kernel's test_bit_le loop do.
func naiveScan(bits []byte, nbits, chunkSectors, syncSize uint64) (uint64, []Extent) {
	var dirty uint64
	var out []Extent
	for i := uint64(0); i < nbits; i++ {
		if bits[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		dirty++
		start, end := i*chunkSectors, min((i+1)*chunkSectors, syncSize)
		if n := len(out); n > 0 && out[n-1].End == start {
			out[n-1].End = end
		} else {
			out = append(out, Extent{start, end})
		}
	}
	return dirty, out
}

func TestScanBitsMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		nbits := rng.Uint64N(5000)
		cs := uint64(1) << rng.UintN(6)
		sync := nbits * cs
		if nbits > 0 && rng.IntN(2) == 0 {
			sync -= rng.Uint64N(cs) // partial last chunk
		}
		data := make([]byte, (nbits+7)/8+rng.Uint64N(9))
		density := rng.Float64()
		for i := range data {
			for b := 0; b < 8; b++ {
				if rng.Float64() < density {
					data[i] |= 1 << b
				}
			}
		}
		wantDirty, wantExt := naiveScan(data, nbits, cs, sync)
		bufSize := []int{8, 16, 24, 4096, 65536}[rng.IntN(5)]
		dev := &sparse{size: int64(len(data)) + 100, flat: append(make([]byte, 100), data...)}
		acc := extentAcc{max: -1, chunkSectors: cs, syncSize: sync}
		dirty, err := NewReader(dev, dev.size).scanBits(100, nbits, make([]byte, bufSize), &acc)
		ext, _ := acc.finish()
		if err != nil {
			t.Fatal(err)
		}
		if dirty != wantDirty {
			t.Fatalf("iter %d (nbits %d, buf %d): dirty %d, want %d", iter, nbits, bufSize, dirty, wantDirty)
		}
		if diff := cmp.Diff(wantExt, ext); diff != "" {
			t.Fatalf("iter %d (nbits %d, buf %d): extents (-want +got):\n%s", iter, nbits, bufSize, diff)
		}
		if dev.maxRead > bufSize {
			t.Fatalf("iter %d: read %d bytes at once with a %d-byte buffer", iter, dev.maxRead, bufSize)
		}
	}
}

func TestReadBitmapBoundedReads(t *testing.T) {
	// 8 slots x 1M chunks: 128 KiB of bits per slot, read in 4 KiB pieces.
	dev, sb := bigClustered(t, 8, 1<<20)
	bm, err := NewReader(dev, dev.size).ReadBitmap(sb, WithBufferSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	if dev.maxRead > 4096 {
		t.Errorf("largest read %d bytes, want <= 4096", dev.maxRead)
	}
	if bm.Slots[0].Dirty != 1<<20 || len(bm.Slots[0].Extents) != 1 {
		t.Errorf("slot 0: dirty %d, %d extents; want all 1M dirty in 1 extent", bm.Slots[0].Dirty, len(bm.Slots[0].Extents))
	}
	if got, want := bm.Slots[3].Dirty, uint64(1000); got != want {
		t.Errorf("slot 3: dirty %d, want %d", got, want)
	}
	if got := dev.bytes; got > 8*(128<<10+4096)+4096 {
		t.Errorf("read %d bytes in total, more than the bitmap", got)
	}
}

// bigClustered builds a sparse member device with a clustered bitmap of
// nodes slots of chunks bits each: slot 0 all dirty (as after mdadm
// --create), slot 3 with 1000 scattered dirty chunks, the rest clean.
func bigClustered(t testing.TB, nodes uint32, chunks uint64) (*sparse, *Superblock) {
	t.Helper()
	const chunk = 64 << 10
	sync := chunks * chunk / SectorSize
	sb := testSuperblock()
	sb.Size, sb.DataSize = sync, sync
	bsb := testBitmapSuper(5, nodes, sync, chunk)
	slot := int64(bsb.SlotBytes())
	sb.DataOffset = uint64(16*SectorSize+int64(nodes)*slot) / SectorSize
	dev := &sparse{size: int64(sb.DataOffset)*SectorSize + int64(sync)*SectorSize}
	dev.set(8*SectorSize, encodeSuperblock(sb, false))
	base := int64(16 * SectorSize)
	ones := make([]byte, 4096)
	for i := range ones {
		ones[i] = 0xff
	}
	for i := int64(0); i < int64(nodes); i++ {
		dev.set(base+i*slot, encodeBitmapSuperblock(bsb))
	}
	for off := int64(0); off < int64(chunks/8); off += 4096 {
		dev.set(base+BitmapSuperblockSize+off, ones[:min(4096, int64(chunks/8)-off)])
	}
	for k := uint64(0); k < 1000; k++ {
		c := k * 1048
		dev.set(base+3*slot+BitmapSuperblockSize+int64(c/8), []byte{1 << (c % 8)})
	}
	return dev, sb
}
