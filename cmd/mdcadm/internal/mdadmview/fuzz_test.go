package mdadmview

import (
	"bytes"
	"io"
	"testing"
	"time"

	"mdcluster.dev/bitmap"
)

// FuzzExamine renders every output form for a device whose v1.2
// superblock and bitmap come from the fuzzer: nothing may panic.
func FuzzExamine(f *testing.F) {
	m := member()
	dev := make([]byte, 16384)
	m.Super.DataOffset = 24
	putSuperblock(dev, m.Super)
	putBitmapSuper(dev, 8192, m.Bitmap)
	putBitmapSuper(dev, 8192+4096, m.Bitmap)
	f.Add(dev[4096:])
	m.Super.Level, m.Super.Layout, m.Super.FeatureMap = 10, 0x102, bitmap.FeatureReshapeActive|bitmap.FeaturePPL
	m.Super.DeltaDisks = -2
	putSuperblock(dev, m.Super)
	f.Add(dev[4096:])
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := append(make([]byte, 4096), data...)
		if len(buf) < 24*512 {
			buf = append(buf, make([]byte, 24*512-len(buf))...)
		}
		r := bitmap.NewReader(bytes.NewReader(buf), int64(len(buf)))
		mem, err := LoadMember(r, "/dev/fuzz")
		if err != nil {
			return
		}
		opt := Options{Location: time.UTC, Homehost: "node1"}
		e := NewExamine(mem, opt)
		if err := e.WriteText(io.Discard, opt); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(io.Discard, e); err != nil {
			t.Fatal(err)
		}
		_ = WriteBrief(io.Discard, mem)
		_ = WriteExport(io.Discard, mem)
		if bm, _ := r.ReadBitmap(mem.Super, bitmap.WithMaxExtents(8)); bm != nil {
			x := NewExamineBitmap("/dev/fuzz", bm)
			if err := x.WriteText(io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(io.Discard, x); err != nil {
				t.Fatal(err)
			}
		}
	})
}
