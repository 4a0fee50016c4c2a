package bitmap

import (
	"errors"
	"runtime"
	"testing"
)

// TestSlotBytesHuge: a sync_size near 2^64 sectors does not wrap the slot
// size round to a small number, which would let the slots "fit".
func TestSlotBytesHuge(t *testing.T) {
	s := testBitmapSuper(BitmapVersionClustered, 4, ^uint64(0), 512)
	if got := s.SlotBytes(); got < 1<<60 {
		t.Fatalf("SlotBytes = %d for %d chunks", got, s.Chunks())
	}
	dev := &sparse{size: 1 << 20}
	if _, err := NewReader(dev, dev.size).SlotOffsets(0, s); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("SlotOffsets: %v, want ErrOutOfBounds", err)
	}
}

// fileImage is a bitmap file: each superblock followed by its bits, the
// next one at the following 8 KiB read (mdadm's sequential reads).
func fileImage(head *BitmapSuperblock, slots ...*BitmapSuperblock) *sparse {
	dev := &sparse{}
	off := int64(0)
	for _, s := range append([]*BitmapSuperblock{head}, slots...) {
		dev.set(off, encodeBitmapSuperblock(s))
		dev.set(off+BitmapSuperblockSize, []byte{0x0f, 0x01})
		off += fileReadSize
	}
	dev.size = off
	return dev
}

func TestReadFile(t *testing.T) {
	plain := fileImage(testBitmapSuper(4, 0, 64, 512))
	f, err := ReadFile(plain, plain.size, true)
	if err != nil || f.Head.Bits != 64 || f.Head.Dirty != 5 || !f.Head.Counted || f.Head.Short || len(f.Nodes) != 0 {
		t.Fatalf("plain: %+v, %v", f, err)
	}
	if f, _ := ReadFile(plain, plain.size, false); f.Head.Counted || f.Head.Dirty != 0 {
		t.Fatalf("brief: counted %+v", f.Head)
	}
	cl := testBitmapSuper(5, 2, 64, 512)
	two := fileImage(cl, cl, cl)
	f, err = ReadFile(two, two.size, true)
	if err != nil || len(f.Nodes) != 2 || f.Nodes[1].Dirty != 5 {
		t.Fatalf("clustered: %+v, %v", f, err)
	}
	short := fileImage(testBitmapSuper(4, 0, 1<<20, 512))
	if f, err := ReadFile(short, short.size, true); err != nil || !f.Head.Short || f.Head.Bits != (fileReadSize-BitmapSuperblockSize)*8 {
		t.Fatalf("short file: %+v, %v", f.Head, err)
	}
	tiny := &sparse{size: 100}
	if _, err := ReadFile(tiny, tiny.size, true); !errors.Is(err, ErrTruncated) {
		t.Fatalf("100-byte file: %v, want ErrTruncated", err)
	}
}

// TestReadFileNodesBound: a nodes field the file cannot hold is refused
// with a field error before any slot is allocated or read.
func TestReadFileNodesBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes uint32
		want  error
	}{
		{"0x7fffffff", 0x7fffffff, ErrInvalidField},
		{"1025", MaxNodes + 1, ErrInvalidField},
		{"more than the file holds", 5, ErrOutOfBounds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testBitmapSuper(5, tc.nodes, 64, 512)
			dev := fileImage(s, s) // room for the head and one slot
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := ReadFile(dev, dev.size, true)
			runtime.ReadMemStats(&after)
			var fe *FieldError
			if !errors.Is(err, tc.want) || !errors.As(err, &fe) || fe.Field != "nodes" {
				t.Fatalf("err %v, want a nodes field error wrapping %v", err, tc.want)
			}
			if len(f.Nodes) != 0 || dev.reads > 1 {
				t.Errorf("%d slots, %d reads after the refusal", len(f.Nodes), dev.reads)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("allocated %d bytes", grew)
			}
		})
	}
}

// contents returns the whole file.
func (s *sparse) contents() []byte {
	b := make([]byte, s.size)
	s.ReadAt(b, 0)
	return b
}
