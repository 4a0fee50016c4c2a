package bitmap

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxImage bounds a decompressed testdata image.
const maxImage = 256 << 20

type testImage struct {
	name string
	data []byte
}

func (im testImage) sectors() int64 { return int64(len(im.data)) / SectorSize }

// testdataImages loads testdata/*.img.gz: metadata-area images captured in
// the VM lab (see testdata/README.md).
func testdataImages(t testing.TB) []testImage {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var out []testImage
	for _, p := range paths {
		data, err := gunzip(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, testImage{name: strings.TrimSuffix(filepath.Base(p), ".img.gz"), data: data})
	}
	return out
}

func gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxImage+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxImage {
		return nil, errors.New("image larger than 256 MiB decompressed")
	}
	return data, nil
}

// TestTestdataImages reads every captured image. Images named "bad-*" must
// fail to yield a superblock or bitmap; all others must parse, and their
// bitmap (if any) must read and agree with a bit-by-bit count.
func TestTestdataImages(t *testing.T) {
	imgs := testdataImages(t)
	if len(imgs) == 0 {
		t.Skip("no testdata/*.img.gz images yet")
	}
	for _, img := range imgs {
		t.Run(img.name, func(t *testing.T) {
			dev := &sparse{size: int64(len(img.data)), flat: img.data}
			r := NewReader(dev, dev.size)
			sb, minor, err := r.ProbeSuperblock()
			bad := strings.HasPrefix(img.name, "bad-")
			if err != nil {
				if !bad {
					t.Fatalf("ProbeSuperblock: %v", err)
				}
				return
			}
			t.Logf("v1.%d %q level %d events %d csum ok %v features %#x", minor, sb.Name(), sb.Level, sb.Events, sb.CsumErr == nil, sb.FeatureMap)
			if sb.CsumErr != nil && !bad {
				t.Errorf("checksum: %v", sb.CsumErr)
			}
			if !sb.HasBitmap() {
				return
			}
			bm, err := r.ReadBitmap(sb, WithMaxExtents(-1))
			if err != nil {
				if !bad {
					t.Fatalf("ReadBitmap: %v", err)
				}
				return
			}
			for _, s := range bm.Slots {
				t.Logf("slot %d: events %d cleared %d: %d of %d chunks dirty, %d extents",
					s.Index, s.Super.Events, s.Super.EventsCleared, s.Dirty, s.Chunks, len(s.Extents))
			}
			checkBitmap(t, dev, bm)
		})
	}
}
