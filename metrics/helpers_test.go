package metrics

import (
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/metrics/fixture"
)

const (
	capturesDir = "../mdcluster/md/testdata"
	imagesDir   = "../bitmap/testdata/images"
)

// captureRoot writes the md package's captures into a temporary root: n 0 keeps each capture's
// array name, n > 0 replicates them into md0…md<n-1>.
func captureRoot(t testing.TB, n int) string {
	t.Helper()
	caps, err := fixture.Load(capturesDir)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := fixture.Write(root, caps, n); err != nil {
		t.Fatal(err)
	}
	return root
}

// captureRootOf writes only the named capture, under its own array name.
func captureRootOf(t testing.TB, name string) string {
	t.Helper()
	caps, err := fixture.Load(capturesDir)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, c := range caps {
		if c.Name == name {
			if err := fixture.Write(root, []fixture.Capture{c}, 0); err != nil {
				t.Fatal(err)
			}
			return root
		}
	}
	t.Fatalf("no capture %s", name)
	return ""
}

func newFS(t testing.TB, root string) md.FS {
	t.Helper()
	fs, err := md.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// registry returns a pedantic registry with set registered, so every metric must be described.
func registry(t testing.TB, set *Set) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(set); err != nil {
		t.Fatal(err)
	}
	return reg
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// gunzipTo decompresses a bitmap test image (a whole member device) to path.
func gunzipTo(t testing.TB, image, path string) {
	t.Helper()
	in, err := os.Open(filepath.Join(imagesDir, image))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
