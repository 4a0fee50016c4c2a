//go:build !vmguest

package md

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestDirentNames reads a real directory with getdents64 and checks direntNames against
// unix.ParseDirent, with and without a prefix.
func TestDirentNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"dev-vda", "dev-sdb1", "level", "dev", "rd0", "a-name-longer-than-a-dirent-header-of-nineteen-bytes"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// getdents64 may return a directory in several chunks (ext4 hands out its hash-ordered
	// entries in batches), so read to the end and keep every chunk.
	var chunks [][]byte
	var all []string
	for {
		buf := make([]byte, 8192)
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		chunks = append(chunks, buf[:n])
		_, _, all = unix.ParseDirent(buf[:n], -1, all)
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{{"", all}, {"dev-", []string{"dev-sdb1", "dev-vda"}}, {"none-", nil}} {
		var got []string
		for _, c := range chunks {
			got = direntNames(c, tt.prefix, got)
		}
		sort.Strings(got)
		want := append([]string(nil), tt.want...)
		sort.Strings(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("prefix %q (-want +got):\n%s", tt.prefix, diff)
		}
	}
}
