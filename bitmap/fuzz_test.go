package bitmap

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzDevice places data at byte 4096 of a device: the v1.2 superblock
// location. The device is at least 24 sectors.
func fuzzDevice(data []byte) *sparse {
	flat := append(make([]byte, 4096), data...)
	if len(flat) < MinDeviceSectors*SectorSize {
		flat = append(flat, make([]byte, MinDeviceSectors*SectorSize-len(flat))...)
	}
	return &sparse{size: int64(len(flat)), flat: flat}
}

func superblockSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	sb := testSuperblock()
	seeds = append(seeds, encodeSuperblock(sb, false))
	odd := testSuperblock()
	odd.MaxDev, odd.DevRoles = 3, []uint16{0, RoleFaulty, RoleSpare}
	odd.FeatureMap = FeatureBitmapOffset | FeatureReshapeActive | FeatureNewOffset | FeatureBadBlocks
	odd.DeltaDisks, odd.NewOffset, odd.Level, odd.Layout = -1, -2048, 10, 0x102
	seeds = append(seeds, encodeSuperblock(odd, false))
	bad := encodeSuperblock(testSuperblock(), false)
	bad[216] ^= 1
	seeds = append(seeds, bad)
	// A whole metadata area: superblock and a clustered bitmap behind it.
	im := buildImage(t, 2, 64, testSuperblock(), testBitmapSuper(5, 2, 1024, 512), map[int][]uint64{0: {0, 1, 2}, 1: {7}})
	seeds = append(seeds, im.buf[4096:])
	forEachImage(t, func(img testImage) {
		for _, off := range []int64{0, 4096, (img.sectors() - 16) &^ 7 * SectorSize} {
			if off >= 0 && off < int64(len(img.data)) {
				seeds = append(seeds, bytes.Clone(img.data[off:min(int64(len(img.data)), off+64<<10)]))
			}
		}
	})
	return seeds
}

func FuzzSuperblock(f *testing.F) {
	for _, s := range superblockSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sb Superblock
		if err := sb.UnmarshalBinary(data); err == nil {
			n := SuperblockSize + 2*int(sb.MaxDev)
			if got := encodeSuperblock(&sb, true); !bytes.Equal(got, data[:n]) {
				t.Fatalf("re-encoded superblock differs:\n got %x\nwant %x", got, data[:n])
			}
			if (sb.CsumErr == nil) != (sb.ComputedCsum == sb.SBCsum) {
				t.Fatalf("CsumErr %v with stored %#x computed %#x", sb.CsumErr, sb.SBCsum, sb.ComputedCsum)
			}
		} else {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
		}
		dev := fuzzDevice(data)
		r := NewReader(dev, dev.size)
		got, _, err := r.ProbeSuperblock()
		if err != nil {
			return
		}
		bm, _ := r.ReadBitmap(got, WithMaxExtents(32), WithBufferSize(512))
		checkBitmap(t, dev, bm)
	})
}

func FuzzBitmap(f *testing.F) {
	f.Add(encodeBitmapSuperblock(testBitmapSuper(4, 0, 4096, 512)))
	im := buildImage(f, 2, 64, testSuperblock(), testBitmapSuper(5, 3, 1000, 512), map[int][]uint64{0: {0, 1, 2, 999}, 2: {5, 6, 100}})
	f.Add(im.buf[8192:])
	im = buildImage(f, 2, 64, testSuperblock(), testBitmapSuper(4, 0, 20000, 4096), map[int][]uint64{0: {0, 63, 64, 65, 127, 128, 4999}})
	f.Add(im.buf[8192:])
	for _, s := range hugeBitmapSupers() {
		f.Add(encodeBitmapSuperblock(s))
	}
	forEachImage(f, func(img testImage) {
		dev := &sparse{size: int64(len(img.data)), flat: img.data}
		r := NewReader(dev, dev.size)
		if sb, _, err := r.ProbeSuperblock(); err == nil {
			if off, err := r.BitmapOffset(sb); err == nil {
				f.Add(bytes.Clone(img.data[off:min(int64(len(img.data)), off+256<<10)]))
			}
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var bsb BitmapSuperblock
		if err := bsb.UnmarshalBinary(data); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		if got := encodeBitmapSuperblock(&bsb); !bytes.Equal(got, data[:BitmapSuperblockSize]) {
			t.Fatalf("re-encoded bitmap superblock differs")
		}
		// The data is a device whose bitmap starts at sector 0.
		dev := &sparse{size: int64(len(data)), flat: data}
		sb := &Superblock{FeatureMap: FeatureBitmapOffset, SetUUID: bsb.UUID}
		bm, _ := NewReader(dev, dev.size).ReadBitmap(sb, WithMaxExtents(16), WithBufferSize(8))
		checkBitmap(t, dev, bm)
	})
}

// checkBitmap checks each readable slot against a bit-by-bit count.
func checkBitmap(t *testing.T, dev *sparse, bm *Bitmap) {
	t.Helper()
	if bm == nil {
		return
	}
	for _, s := range bm.Slots {
		if s.Err != nil {
			continue
		}
		if s.Dirty > s.Chunks {
			t.Fatalf("slot %d: %d dirty of %d chunks", s.Index, s.Dirty, s.Chunks)
		}
		bits := make([]byte, (s.Chunks+7)/8)
		if _, err := dev.ReadAt(bits, s.Offset+BitmapSuperblockSize); err != nil {
			t.Fatalf("slot %d: re-read bits: %v", s.Index, err)
		}
		dirty, ext := naiveScan(bits, s.Chunks, s.Super.ChunkSectors(), s.Super.SyncSize)
		if dirty != s.Dirty {
			t.Fatalf("slot %d: dirty %d, bit-by-bit %d", s.Index, s.Dirty, dirty)
		}
		if len(ext) < len(s.Extents) || (!s.ExtentsTruncated && len(ext) != len(s.Extents)) {
			t.Fatalf("slot %d: %d extents (truncated %v), bit-by-bit %d", s.Index, len(s.Extents), s.ExtentsTruncated, len(ext))
		}
		for i, e := range s.Extents {
			if e != ext[i] {
				t.Fatalf("slot %d: extent %d = %v, bit-by-bit %v", s.Index, i, e, ext[i])
			}
		}
	}
}

// hugeBitmapSupers are superblocks whose counts no device can hold: nodes
// 0x7fffffff (one reviewer's reproducer grew memory without bound), nodes
// just over MaxNodes, and a sync_size whose chunk count wrapped the slot
// size round.
func hugeBitmapSupers() []*BitmapSuperblock {
	return []*BitmapSuperblock{
		testBitmapSuper(BitmapVersionClustered, 0x7fffffff, 1024, 512),
		testBitmapSuper(BitmapVersionLE, 0x7fffffff, 1024, 512),
		testBitmapSuper(BitmapVersionClustered, MaxNodes+1, 1024, 512),
		testBitmapSuper(BitmapVersionClustered, 4, ^uint64(0), 512),
		testBitmapSuper(BitmapVersionLE, 0, ^uint64(0), 512),
	}
}

// FuzzBitmapFile reads data as a bitmap file (mdadm -X of a file without
// md superblock): whatever the fields say, the slots fit in the file and
// every count stays within what was read.
func FuzzBitmapFile(f *testing.F) {
	for _, s := range hugeBitmapSupers() {
		f.Add(encodeBitmapSuperblock(s))
	}
	cl := testBitmapSuper(BitmapVersionClustered, 2, 64, 512)
	f.Add(fileImage(cl, cl, cl).contents())
	f.Add(fileImage(testBitmapSuper(BitmapVersionLE, 0, 1<<20, 512)).contents())
	f.Fuzz(func(t *testing.T, data []byte) {
		dev := &sparse{size: int64(len(data)), flat: data}
		bf, err := ReadFile(dev, dev.size, true)
		if bf == nil {
			t.Fatalf("nil File (err %v)", err)
		}
		if dev.bytes > dev.size {
			t.Fatalf("read %d bytes of a %d-byte file", dev.bytes, dev.size)
		}
		if n := len(bf.Nodes); n > MaxNodes || n > 0 && uint64(n)*bf.Head.Super.SlotBytes() > uint64(dev.size) {
			t.Fatalf("%d slots of %d bytes in a %d-byte file", n, bf.Head.Super.SlotBytes(), dev.size)
		}
		for _, s := range append([]FileSlot{bf.Head}, bf.Nodes...) {
			if s.Dirty > s.Bits || s.Bits > s.Super.Chunks() || s.Bits > uint64(dev.size)*8 {
				t.Fatalf("slot counts %d dirty of %d bits, %d chunks, %d-byte file", s.Dirty, s.Bits, s.Super.Chunks(), dev.size)
			}
		}
	})
}
