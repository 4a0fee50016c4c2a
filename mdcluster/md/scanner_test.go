//go:build !vmguest

package md

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/mdcluster/md/mdtest"
)

// loadAllCaptures unpacks every testdata/*.txtar capture (one array each, all named apart) into
// one root.
func loadAllCaptures(t *testing.T) FS {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	root := t.TempDir()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files, err := mdtest.Parse(string(data))
		if err != nil {
			t.Fatal(err)
		}
		for path, body := range files {
			if path == "proc/mdstat" {
				continue
			}
			writeTree(t, root, path, body)
		}
	}
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeTree(t *testing.T, root, path, body string) {
	t.Helper()
	f := filepath.Join(root, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scanned blanks the fields a Scanner does not read.
func scanned(arrays []Array) []Array {
	out := make([]Array, len(arrays))
	for i, a := range arrays {
		a.Major, a.Minor, a.LastSyncAction, a.SyncMin = 0, 0, "", 0
		a.SyncSpeedMin, a.SyncSpeedMax, a.SuspendLo, a.SuspendHi, a.ChunkSize = SpeedLimit{}, SpeedLimit{}, 0, 0, 0
		a.Members = append([]Member(nil), a.Members...)
		for j := range a.Members {
			a.Members[j].Major, a.Members[j].Minor = 0, 0
		}
		out[i] = a
	}
	return out
}

// checkScan compares two scans (the second through held files) with Arrays.
func checkScan(t *testing.T, fs FS, s *Scanner, workers int) {
	t.Helper()
	full, err := fs.Arrays()
	if err != nil {
		t.Fatal(err)
	}
	for pass := range 2 {
		got, err := s.arraysWith(workers)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(scanned(full), got); diff != "" {
			t.Errorf("%d workers, pass %d: Scanner (-want +got):\n%s", workers, pass, diff)
		}
	}
}

// TestScannerCaptures: over every capture, a Scanner reads what Arrays reads but for the fields
// it leaves out, one array at a time or several at once, on its first call and its next.
func TestScannerCaptures(t *testing.T) {
	fs := loadAllCaptures(t)
	if names, err := fs.ArrayNames(); err != nil || len(names) < 2 {
		t.Fatalf("arrays in the captures: %v, %v; want several", names, err)
	}
	for _, workers := range []int{1, 3, maxScanWorkers} {
		s := fs.NewScanner()
		checkScan(t, fs, s, workers)
		if s.files.Load() == 0 {
			t.Error("no files held after a scan")
		}
		s.Close()
		if n := s.files.Load(); n != 0 {
			t.Errorf("%d files held after Close", n)
		}
	}
}

// TestScannerChanges: what changes between two calls is read again, never kept: an attribute
// rewritten, a member removed, an array stopped and another created under its name, a block
// device that is no array, a dev-* entry that is no directory.
func TestScannerChanges(t *testing.T) {
	fs := loadAllCaptures(t)
	s := fs.NewScanner()
	defer s.Close()
	checkScan(t, fs, s, 2)
	root := fs.root
	writeTree(t, root, "sys/block/md0/md/array_state", "active\n")
	writeTree(t, root, "sys/block/md1/md/dev-vdc/state", "faulty\n")
	writeTree(t, root, "sys/block/vda/size", "1\n")
	writeTree(t, root, "sys/block/md0/md/dev-bogus", "1\n")
	if err := os.RemoveAll(filepath.Join(root, "sys/block/md2/md/dev-vdd")); err != nil {
		t.Fatal(err)
	}
	// md3 stopped, md6 (inactive) re-created as md3.
	if err := os.RemoveAll(filepath.Join(root, "sys/block/md3")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "sys/block/md6"), filepath.Join(root, "sys/block/md3")); err != nil {
		t.Fatal(err)
	}
	checkScan(t, fs, s, 2)
	got, err := s.Arrays()
	if err != nil {
		t.Fatal(err)
	}
	if got[0].State != ArrayActive || got[3].State != ArrayInactive || len(got) != 6 {
		t.Errorf("after changes: md0 %s, md3 %s, %d arrays; want active, inactive, 6", got[0].State, got[3].State, len(got))
	}
}

// TestScannerMalformed: a malformed attribute is an error naming the array and attribute.
func TestScannerMalformed(t *testing.T) {
	fs := loadCapture(t, "raid1-bitmap")
	writeTree(t, fs.root, "sys/block/md0/md/degraded", "two\n")
	s := fs.NewScanner()
	defer s.Close()
	_, err := s.Arrays()
	if want := `md: md0: degraded: md: malformed kernel text: "two"`; !errors.Is(err, ErrParse) || err.Error() != want {
		t.Errorf("malformed degraded: got %v, want %s", err, want)
	}
}
