package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/config"
)

// tree is a test host: files under a temporary root, and stand-ins for the kernel.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T) *tree { return &tree{t: t, root: t.TempDir()} }

func (tr *tree) write(p, body string) {
	tr.t.Helper()
	full := filepath.Join(tr.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) link(p, target string) {
	tr.t.Helper()
	full := filepath.Join(tr.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		tr.t.Fatal(err)
	}
}

const (
	exUUID = "fd4485b9:5882c440:166d447e:b3049159"
	clUUID = "4e657744:69736b43:6f6e6669:726d0001"
)

func testConfig() *config.Config {
	c := config.Default()
	c.Node.Name, c.Cluster.Name = "node1", "prod"
	c.Leases.Watchdog = "/dev/watchdog"
	c.Arrays = []config.Array{
		{UUID: exUUID, Name: "data", Mode: config.ModeExclusive, Devices: []string{"/dev/disk/by-id/a", "/dev/disk/by-id/b"}},
		{UUID: clUUID, Name: "shared", Mode: config.ModeClustered, Devices: []string{"/dev/disk/by-id/c"}},
	}
	return &c
}

func (tr *tree) host() Host {
	return Host{Root: tr.root,
		Modprobe: func(_ context.Context, name string) error {
			if name == "raid10" {
				return errors.New("modprobe raid10: install command failed")
			}
			return nil
		},
		TryWatchdog: func(string, time.Duration) (time.Duration, error) { return 3 * time.Second, nil },
		Superblock: func(p string) (*bitmap.Superblock, *bitmap.BitmapSuperblock, error) {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, nil, err
			}
			f := strings.Fields(string(b)) // "ARRAY-HEX DEVICE-HEX [cluster]"
			if len(f) < 2 {
				return nil, nil, errors.New("no md superblock")
			}
			var sb bitmap.Superblock
			copy(sb.SetUUID[:], []byte(f[0]))
			copy(sb.DeviceUUID[:], []byte(f[1]))
			if len(f) < 3 {
				return &sb, nil, nil
			}
			bsb := &bitmap.BitmapSuperblock{Version: bitmap.BitmapVersionClustered}
			copy(bsb.ClusterName[:], f[2])
			return &sb, bsb, nil
		},
	}
}

func TestModules(t *testing.T) {
	tr := newTree(t)
	tr.write("sys/module/md_mod/refcnt", "1")
	got := tr.host().modules(context.Background())
	if len(got) != len(Modules) || got[2].Name != "raid10" || got[2].Err == "" || got[0].Err != "" {
		t.Errorf("modules: %+v", got)
	}
}

func TestDevices(t *testing.T) {
	tr := newTree(t)
	tr.write("dev/vda", "0123456789abcdef dev-a-uuid-0000")
	tr.write("dev/vdb", "")
	tr.write("dev/vdc", "0123456789abcdef dev-c-uuid-0000 prod")
	tr.link("dev/disk/by-id/a", "../../vda")
	tr.link("dev/disk/by-id/c", "../../vdc")
	h := tr.host()
	for _, tc := range []struct {
		path string
		want DeviceFact
	}{
		{"/dev/disk/by-id/a", DeviceFact{Path: "/dev/disk/by-id/a", Target: "/dev/vda", ArrayUUID: "30313233:34353637:38396162:63646566", DeviceUUID: "6465762d:612d7575:69642d30:30303000"}},
		{"/dev/disk/by-id/b", DeviceFact{Path: "/dev/disk/by-id/b", Err: "no such device"}},
		{"/dev/vdb", DeviceFact{Path: "/dev/vdb", Target: "/dev/vdb", Err: "no md superblock"}},
		{"/dev/disk/by-id/c", DeviceFact{Path: "/dev/disk/by-id/c", Target: "/dev/vdc", ArrayUUID: "30313233:34353637:38396162:63646566", DeviceUUID: "6465762d:632d7575:69642d30:30303000", Cluster: "prod"}},
	} {
		if diff := cmp.Diff(tc.want, h.device(tc.path)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.path, diff)
		}
	}
}

func TestUdev(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig()
	h := tr.host()
	if got := h.udev(cfg); got.Rule != "" || got.Masked != "" {
		t.Errorf("no rule installed: %+v", got)
	}
	tr.write("usr/lib/udev/rules.d/63-mdcluster.rules", `ENV{ID_FS_TYPE}=="linux_raid_member", IMPORT{program}="/usr/sbin/mdclusterd udev member $env{ID_FS_UUID}"`)
	tr.write("usr/lib/udev/rules.d/69-md-clustered-confirm-device.rules", "# mdadm's")
	// Two members present: vda marked by the rule, vdb a member udev did not mark; c is clustered.
	tr.write("dev/vda", "")
	tr.write("dev/vdb", "")
	tr.link("dev/disk/by-id/a", "../../vda")
	tr.link("dev/disk/by-id/b", "../../vdb")
	tr.write("sys/class/block/vda/dev", "254:0\n")
	tr.write("sys/class/block/vdb/dev", "254:16\n")
	tr.write("run/udev/data/b254:0", "E:ID_FS_TYPE=linux_raid_member\nE:MDCLUSTER_MODE=exclusive\n")
	tr.write("run/udev/data/b254:16", "E:ID_FS_TYPE=linux_raid_member\n")
	want := UdevFact{Rule: "/usr/lib/udev/rules.d/63-mdcluster.rules", MdadmConfirm: "/usr/lib/udev/rules.d/69-md-clustered-confirm-device.rules",
		Undeferred: []string{"/dev/disk/by-id/b"}}
	if diff := cmp.Diff(want, h.udev(cfg)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// An administrator's file of the same name in /etc replaces the package's.
	tr.link("etc/udev/rules.d/63-mdcluster.rules", "/dev/null")
	if got := h.udev(cfg); got.Masked != "/etc/udev/rules.d/63-mdcluster.rules" || got.Rule != "" {
		t.Errorf("masked: %+v", got)
	}
}

func TestMdadmConf(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig()
	tr.write("etc/mdadm/mdadm.conf", `HOMEHOST <system>
# ARRAY /dev/md/data UUID=fd4485b9:5882c440:166d447e:b3049159
ARRAY <ignore> UUID=fd4485b9:5882c440:166d447e:b3049159
ARRAY /dev/md/shared metadata=1.2 UUID=4e657744:69736b43:6f6e6669:726d0001
`)
	h := tr.host()
	if got := h.mdadmConf(cfg); len(got.Listed) != 0 || len(got.Initramfs) != 0 {
		t.Errorf("ignored and clustered arrays: %+v", got)
	}
	// Debian 12's mdadm hook puts mdadm's incremental assembly in the initramfs: only an
	// <ignore> line keeps the exclusive array out of it.
	tr.write("usr/share/initramfs-tools/hooks/mdadm", "")
	if got := h.mdadmConf(cfg); len(got.Initramfs) != 0 {
		t.Errorf("initramfs, the exclusive array ignored: %+v", got)
	}
	tr.write("etc/mdadm/mdadm.conf", "HOMEHOST <system>\n# ARRAY <ignore> UUID=fd4485b9:5882c440:166d447e:b3049159\n")
	if got := h.mdadmConf(cfg); cmp.Diff([]string{"data"}, got.Initramfs) != "" {
		t.Errorf("initramfs, no <ignore> line: %+v", got)
	}
	// mdadm's spellings: the device word anywhere, in any case; a '#' inside a word is no comment.
	for _, conf := range []string{"ARRAY UUID=fd4485b9:5882c440:166d447e:b3049159 <IGNORE>\n",
		"ARRAY <ignore> name=host#1:data UUID=fd4485b9:5882c440:166d447e:b3049159\n"} {
		tr.write("etc/mdadm/mdadm.conf", conf)
		if got := h.mdadmConf(cfg); len(got.Listed) != 0 || len(got.Initramfs) != 0 {
			t.Errorf("%q: %+v, want the array ignored", conf, got)
		}
	}
	// The initramfs gets mdadm.conf only, not mdadm.conf.d: an <ignore> line there does not
	// keep the array out of it.
	tr.write("etc/mdadm/mdadm.conf", "HOMEHOST <system>\n")
	tr.write("etc/mdadm/mdadm.conf.d/ignore.conf", "ARRAY <ignore> UUID=fd4485b9:5882c440:166d447e:b3049159\n")
	if got := h.mdadmConf(cfg); cmp.Diff([]string{"data"}, got.Initramfs) != "" {
		t.Errorf("<ignore> only in mdadm.conf.d: %+v", got)
	}
	tr.write("etc/mdadm/mdadm.conf.d/local.conf", "arr /dev/md/data\n   uuid=FD4485B9-5882-C440-166D-447EB3049159 name=x:data\n")
	if got := h.mdadmConf(cfg); cmp.Diff([]string{"data (/etc/mdadm/mdadm.conf.d/local.conf)"}, got.Listed) != "" || cmp.Diff([]string{"data"}, got.Initramfs) != "" {
		t.Errorf("abbreviated, continued ARRAY line: %+v", got)
	}
}

// A line added to mdadm.conf reaches the initramfs only with update-initramfs -u.
func TestStaleInitramfs(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig()
	tr.write("usr/share/initramfs-tools/hooks/mdadm", "")
	tr.write("proc/sys/kernel/osrelease", "6.1.0-57-amd64\n")
	tr.write("boot/initrd.img-6.1.0-57-amd64", "")
	tr.write("etc/mdadm/mdadm.conf", "ARRAY <ignore> UUID=fd4485b9:5882c440:166d447e:b3049159\n")
	h := tr.host()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(tr.root, "boot/initrd.img-6.1.0-57-amd64"), old, old); err != nil {
		t.Fatal(err)
	}
	if got := h.mdadmConf(cfg); got.InitramfsStale != "/boot/initrd.img-6.1.0-57-amd64" {
		t.Errorf("mdadm.conf newer than the initramfs: %+v", got)
	}
	if err := os.Chtimes(filepath.Join(tr.root, "etc/mdadm/mdadm.conf"), old.Add(-time.Minute), old.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := h.mdadmConf(cfg); got.InitramfsStale != "" || len(got.Initramfs) != 0 {
		t.Errorf("initramfs built after mdadm.conf: %+v", got)
	}
}

func TestWatchdog(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig() // margin 5s: the agent asks for 2s
	h := tr.host()
	if got := h.watchdog(cfg); got.Err != "no such device" {
		t.Errorf("absent: %+v", got)
	}
	tr.write("dev/watchdog", "")
	tr.write("sys/class/watchdog/watchdog0/identity", "Software Watchdog\n")
	tr.write("sys/class/watchdog/watchdog0/timeout", "2\n")
	tr.write("sys/class/watchdog/watchdog0/nowayout", "0\n")
	want := WatchdogFact{Device: "/dev/watchdog", Identity: "Software Watchdog", Want: Duration{2 * time.Second}, Accepted: Duration{3 * time.Second}}
	if diff := cmp.Diff(want, h.watchdog(cfg)); diff != "" {
		t.Errorf("opened (-want +got):\n%s", diff)
	}
	// Counting down, held by nobody: never opened (the magic close would disarm the reset).
	tr.write("sys/class/watchdog/watchdog0/state", "active\n")
	h.TryWatchdog = func(string, time.Duration) (time.Duration, error) { t.Fatal("opened an armed watchdog"); return 0, nil }
	if got := h.watchdog(cfg); !got.Armed || got.Accepted.Duration != 0 {
		t.Errorf("armed: %+v", got)
	}
	tr.write("sys/class/watchdog/watchdog0/state", "inactive\n")
	tr.write("sys/class/watchdog/watchdog0/nowayout", "1\n")
	h.TryWatchdog = func(string, time.Duration) (time.Duration, error) {
		t.Fatal("opened a nowayout watchdog")
		return 0, nil
	}
	if got := h.watchdog(cfg); !got.NoWayOut || got.Accepted.Duration != 0 {
		t.Errorf("nowayout: %+v", got)
	}
	// A process holding it (its fd links to the device) is named; the device is not opened.
	tr.write("proc/412/comm", "mdclusterd\n")
	tr.link("proc/412/fd/7", "/dev/watchdog")
	if got := h.watchdog(cfg); got.HeldBy != "mdclusterd (pid 412)" || got.Accepted.Duration != 2*time.Second {
		t.Errorf("held: %+v", got)
	}
}
