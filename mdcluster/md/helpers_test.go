//go:build !vmguest

package md

import (
	"path/filepath"
	"testing"

	"mdcluster.dev/mdcluster/md/mdtest"
)

// loadCapture unpacks testdata/<name>.txtar (written by scripts/vm/capture-md from a lab guest) into
// a temporary root and returns an FS on it.
func loadCapture(t *testing.T, name string) FS {
	t.Helper()
	root := t.TempDir()
	mdtest.Unpack(t, filepath.Join("testdata", name+".txtar"), root)
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func ptr[T any](v T) *T { return &v }

func mustUUID(t *testing.T, s string) UUID {
	t.Helper()
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
