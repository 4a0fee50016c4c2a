package agent

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

// lab lays out the clustered lab images as block devices: devDir/vdX files and a sysfs
// class/block tree with their size and dev numbers.
func lab(t *testing.T) (sysBlock, devDir string) {
	t.Helper()
	root := t.TempDir()
	sysBlock, devDir = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	os.MkdirAll(devDir, 0o755)
	for i, name := range []string{"vda", "vdb"} {
		src := filepath.Join("..", "..", "bitmap", "testdata", "images", "clustered-raid1-4slots", name+".img.gz")
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := os.Create(filepath.Join(devDir, name))
		n, err := io.Copy(out, zr)
		out.Close()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(sysBlock, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "size"), []byte(fmt.Sprintf("%d\n", n/512)), 0o644)
		os.WriteFile(filepath.Join(d, "dev"), []byte(fmt.Sprintf("254:%d\n", 16*i)), 0o644)
	}
	// An md device and a device without a superblock are skipped.
	os.MkdirAll(filepath.Join(sysBlock, "md0"), 0o755)
	os.MkdirAll(filepath.Join(sysBlock, "vdc"), 0o755)
	os.WriteFile(filepath.Join(sysBlock, "vdc", "size"), []byte("8192\n"), 0o644)
	os.WriteFile(filepath.Join(devDir, "vdc"), make([]byte, 8192*512), 0o644)
	return sysBlock, devDir
}

func TestFindByDeviceUUID(t *testing.T) {
	sysBlock, devDir := lab(t)
	sb, err := readSuperblock(filepath.Join(devDir, "vdb"), filepath.Join(sysBlock, "vdb", "size"))
	if err != nil {
		t.Fatal(err)
	}
	major, minor, name, found, err := findByDeviceUUID(sysBlock, devDir, md.UUID(sb.DeviceUUID))
	if err != nil || name != "vdb" || major != 254 || minor != 16 || found == nil || found.DeviceUUID != sb.DeviceUUID {
		t.Fatalf("found %s %d:%d, %v; want vdb 254:16", name, major, minor, err)
	}
	if _, _, _, _, err := findByDeviceUUID(sysBlock, devDir, md.UUID{1, 2, 3}); !errors.Is(err, errNoSuchDevice) {
		t.Fatalf("unknown UUID: %v, want errNoSuchDevice", err)
	}
}

// A member whose own superblock still names its slot is a re-add: md-cluster would rebuild it
// from the re-adding node's bitmap only, so the peers refuse it; a device added as a spare (what
// mdadm writes for --add of a wiped disk) is confirmed. The superblock is a member's, captured
// from the lab's kernel.
func TestReAddRefused(t *testing.T) {
	sysBlock, devDir := lab(t)
	sb, err := readSuperblock(filepath.Join(devDir, "vdb"), filepath.Join(sysBlock, "vdb", "size"))
	if err != nil {
		t.Fatal(err)
	}
	if r := sb.Role(); r > bitmap.RoleMax {
		t.Fatalf("the captured member's role is %#x, want a slot", r)
	}
	if why := reAddRefusal(sb); !strings.Contains(why, "re-add") || !strings.Contains(why, "zero its superblock") {
		t.Fatalf("re-add of a member: %q", why)
	}
	sb.DevRoles[sb.DevNumber] = bitmap.RoleSpare
	if why := reAddRefusal(sb); why != "" {
		t.Fatalf("a spare is refused: %q", why)
	}
}
