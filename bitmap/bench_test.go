package bitmap

import "testing"

// BenchmarkReadBitmapClustered counts dirty chunks over a clustered bitmap
// of 8 slots x 1M chunks (128 KiB of bits per slot) on a sparse device:
// slot 0 all dirty, slot 3 with 1000 scattered dirty chunks.
func BenchmarkReadBitmapClustered(b *testing.B) {
	dev, sb := bigClustered(b, 8, 1<<20)
	r := NewReader(dev, dev.size)
	b.SetBytes(8 * (1 << 20) / 8)
	b.ReportAllocs()
	for b.Loop() {
		bm, err := r.ReadBitmap(sb)
		if err != nil {
			b.Fatal(err)
		}
		if bm.Slots[0].Dirty != 1<<20 {
			b.Fatalf("slot 0 dirty %d", bm.Slots[0].Dirty)
		}
	}
}

// BenchmarkScanBitsAlternating scans the worst case for extent merging:
// every other chunk dirty, 1M chunks, extents capped at the default.
func BenchmarkScanBitsAlternating(b *testing.B) {
	data := make([]byte, 1<<20/8)
	for i := range data {
		data[i] = 0x55
	}
	dev := &sparse{size: int64(len(data)), flat: data}
	r := NewReader(dev, dev.size)
	buf := make([]byte, DefaultBufferSize)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		acc := extentAcc{max: DefaultMaxExtents, chunkSectors: 128, syncSize: 1 << 27}
		if _, err := r.scanBits(0, 1<<20, buf, &acc); err != nil {
			b.Fatal(err)
		}
		acc.finish()
	}
}
