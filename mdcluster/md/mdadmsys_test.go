package md

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles writes files (path -> content) below root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMdadmStat: mdadm's view of /proc/mdstat, md-cluster's resync=REMOTE
// and a delayed resync included, which the procfs parse cannot give.
func TestMdadmStat(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"proc/mdstat": `Personalities : [raid1] [raid10]
md127 : active raid1 vdb[1] vda[0]
      261120 blocks super 1.2 [2/2] [UU]
      	resync=REMOTE
      bitmap: 1/1 pages [4KB], 65536KB chunk

md1 : active raid10 vdd[1] vdc[0]
      1046528 blocks super 1.2 2 near-copies [2/2] [UU]
      [==>..................]  recovery = 12.6% (132352/1046528) finish=0.1min speed=132352K/sec

md2 : active raid1 vdf[1] vde[0]
      1046528 blocks super external:/md127/0 [2/2] [UU]
      	resync=DELAYED

unused devices: <none>
`})
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []MdstatEntry{
		{Devnm: "md127", Metadata: "1.2", Percent: PercentRemote, Resync: 1},
		{Devnm: "md1", Metadata: "1.2", Percent: 12, Resync: 0},
		{Devnm: "md2", Metadata: "external:/md127/0", Percent: PercentDelayed, Resync: 1},
	}
	if diff := cmp.Diff(want, fs.MdadmStat()); diff != "" {
		t.Errorf("MdadmStat (-want +got):\n%s", diff)
	}
}

// TestSysfsRead: mdadm's sysfs_read counts of an array with an in-sync,
// a spare, a faulty and an offline member.
func TestSysfsRead(t *testing.T) {
	root := t.TempDir()
	md := "sys/block/md0/md/"
	writeFiles(t, root, map[string]string{
		md + "metadata_version": "1.2\n", md + "level": "raid1\n", md + "raid_disks": "2\n",
		md + "array_state": "clean\n", md + "consistency_policy": "bitmap\n", md + "component_size": "261120\n",
		md + "dev-vda/slot": "0\n", md + "dev-vda/state": "in_sync\n", md + "dev-vda/block/dev": "254:0\n",
		md + "dev-vdb/slot": "none\n", md + "dev-vdb/state": "spare\n", md + "dev-vdb/block/dev": "254:16\n",
		md + "dev-vdc/slot": "1\n", md + "dev-vdc/state": "faulty\n", md + "dev-vdc/block/dev": "254:32\n",
		md + "dev-vdd/slot": "1\n", md + "dev-vdd/state": "in_sync\n", md + "dev-vdd/block/dev": "254:48\n",
		md + "dev-vdd/block/device/state": "offline\n",
	})
	if err := os.MkdirAll(filepath.Join(root, "sys/dev/block"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Symlink("../../block/md0", filepath.Join(root, "sys/dev/block/9:0"))
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	a, err := fs.SysfsRead("md0")
	if err != nil {
		t.Fatal(err)
	}
	if a.Major != 1 || a.Minor != 2 || a.Level != "raid1" || a.Consistency != "bitmap" || a.ComponentSize != 261120 || !a.IsActive() {
		t.Errorf("array %+v", a)
	}
	if len(a.Devs) != 3 || a.Active != 1 || a.Spare != 1 || a.Working != 2 || a.Failed != 0 {
		t.Errorf("members %+v: active %d spare %d working %d failed %d", a.Devs, a.Active, a.Spare, a.Working, a.Failed)
	}
	if n := fs.BlockName(9, 0); n != "md0" || !fs.IsArray(n) || fs.IsArray("vda") || !fs.BlockAlive(9, 0) || fs.BlockAlive(9, 1) {
		t.Errorf("BlockName(9,0) = %q, IsArray %v", n, fs.IsArray(n))
	}
}
