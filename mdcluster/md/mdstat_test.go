//go:build !vmguest

package md

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs"
)

// TestMDStatClusterRemote: node 2's /proc/mdstat while node 1 resyncs a clustered RAID1
// ("resync=REMOTE", captured by the VM scenario ClusterScrape) fails procfs alone; MDStat reports
// the array as resyncing with nothing synced here, as procfs does for a pending resync.
func TestMDStatClusterRemote(t *testing.T) {
	t.Parallel()
	fs := loadCapture(t, "mdstat/cluster-remote")
	pfs, err := procfs.NewFS(filepath.Join(fs.root, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pfs.MDStat(); err == nil {
		t.Log("procfs now parses resync=REMOTE itself: readMDStat's fallback can go")
	}
	st, err := fs.MDStat()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 {
		t.Fatalf("got %d arrays, want 1: %+v", len(st), st)
	}
	a := st[0]
	if a.Name != "md0" || a.ActivityState != "resyncing" || a.BlocksTotal != 64512 || a.BlocksSynced != 0 ||
		a.DisksActive != 2 || a.DisksTotal != 2 || a.DisksFailed != 0 {
		t.Errorf("md0 = %+v, want resyncing, 64512 blocks, none synced here, 2 of 2 disks active", a)
	}
}

// TestMDStatUnparsable: other parse errors still fail, naming mdstat.
func TestMDStatUnparsable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := "md0 : active raid1 vda[0]\n      garbage\n      \tresync=REMOTE\n"
	if err := os.WriteFile(filepath.Join(root, "proc", "mdstat"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.MDStat(); err == nil {
		t.Fatal("no error for an unparsable mdstat")
	}
}
