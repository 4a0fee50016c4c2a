package bitmap

import (
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
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

// forEachImage calls fn with each testdata/**/*.img.gz image (metadata
// images captured in the VM lab, see testdata/README.md), one at a time so
// that at most one decompressed image is held.
func forEachImage(t testing.TB, fn func(testImage)) {
	t.Helper()
	for _, p := range imagePaths(t) {
		data, err := gunzip(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		rel, _ := filepath.Rel("testdata", p)
		fn(testImage{name: strings.TrimSuffix(filepath.ToSlash(rel), ".img.gz"), data: data})
	}
}

// imagePaths lists testdata/**/*.img.gz, e.g.
// testdata/images/raid1-1.2-bitmap/vda.img.gz.
func imagePaths(t testing.TB) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".img.gz") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return paths
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

// TestTestdataImages reads every captured image. Images named "bad-*" (or
// in a "bad-*" directory) may fail to yield a superblock or bitmap; all others must parse, and their
// bitmap (if any) must read and agree with a bit-by-bit count.
func TestTestdataImages(t *testing.T) {
	n := 0
	forEachImage(t, func(img testImage) {
		n++
		t.Run(img.name, func(t *testing.T) {
			dev := &sparse{size: int64(len(img.data)), flat: img.data}
			r := NewReader(dev, dev.size)
			sb, minor, err := r.ProbeSuperblock()
			bad := strings.HasPrefix(path.Base(img.name), "bad-") || strings.Contains(img.name, "/bad-")
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
	})
	if n == 0 {
		t.Skip("no testdata/**/*.img.gz images yet")
	}
}
