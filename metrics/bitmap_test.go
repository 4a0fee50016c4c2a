package metrics

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// examineSlots reads mdadm 4.2's --examine-bitmap golden output next to a test image and renders
// what the bitmap metrics of device md0 must say, so the expected figures come from mdadm.
func examineSlots(t *testing.T, golden string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(imagesDir, golden))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var chunks, dirty, events, cleared []string
	var nodes, cluster string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " : ")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Cluster nodes":
			nodes = strings.TrimSpace(v)
		case "Cluster name":
			cluster = strings.TrimSpace(v)
		case "Events":
			events = append(events, strings.TrimSpace(v))
		case "Events Cleared":
			cleared = append(cleared, strings.TrimSpace(v))
		case "Bitmap":
			var c, d int
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d bits (chunks), %d dirty", &c, &d); err != nil {
				t.Fatalf("%s: %q: %v", golden, v, err)
			}
			chunks, dirty = append(chunks, fmt.Sprint(c)), append(dirty, fmt.Sprint(d))
		}
	}
	var b strings.Builder
	family := func(name, help string, vals []string) {
		fmt.Fprintf(&b, "# HELP mdcluster_md_%s %s\n# TYPE mdcluster_md_%s gauge\n", name, help, name)
		for i, v := range vals {
			fmt.Fprintf(&b, "mdcluster_md_%s{device=\"md0\",slot=\"%d\"} %s\n", name, i, v)
		}
	}
	family("bitmap_slot_chunks", "Number of chunks (bits) in one slot of the write-intent bitmap.", chunks)
	family("bitmap_slot_dirty_chunks", "Number of chunks marked dirty in one slot of the write-intent bitmap on disk: regions a resync must cover.", dirty)
	family("bitmap_slot_events", "Array event count stored in one slot of the bitmap when it was last written.", events)
	family("bitmap_slot_events_cleared", "Array event count stored in one slot of the bitmap when its bits were last cleared.", cleared)
	if nodes != "" {
		fmt.Fprintf(&b, "# HELP mdcluster_md_cluster_nodes Number of md-cluster node slots in the array's clustered bitmap, from its on-disk superblock.\n"+
			"# TYPE mdcluster_md_cluster_nodes gauge\nmdcluster_md_cluster_nodes{cluster=%q,device=\"md0\"} %s\n", cluster, nodes)
	}
	return b.String()
}

var bitmapNames = []string{"mdcluster_md_bitmap_slot_chunks", "mdcluster_md_bitmap_slot_dirty_chunks",
	"mdcluster_md_bitmap_slot_events", "mdcluster_md_bitmap_slot_events_cleared", "mdcluster_md_cluster_nodes"}

// TestBitmapFromImages reads real member images made by the lab's kernel and mdadm through the
// captured raid1-bitmap array (md0, first in-sync member vda) and compares every slot with
// what mdadm --examine-bitmap printed for the same image.
func TestBitmapFromImages(t *testing.T) {
	t.Parallel()
	for _, img := range []string{"raid1-1.2-bitmap", "clustered-raid1-4slots"} {
		t.Run(img, func(t *testing.T) {
			root := captureRootOf(t, "raid1-bitmap")
			dev := t.TempDir()
			gunzipTo(t, filepath.Join(img, "vda.img.gz"), filepath.Join(dev, "vda"))
			set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, root), DevDir: dev})
			want := examineSlots(t, filepath.Join(img, "vda.examine-bitmap.golden"))
			if err := testutil.GatherAndCompare(registry(t, set), strings.NewReader(want), bitmapNames...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBitmapCache: a reading is reused until the TTL has passed on the injected clock, then read
// again; a device that cannot be read reports bitmap_read_success 0 and no slot figures.
func TestBitmapCache(t *testing.T) {
	t.Parallel()
	root := captureRoot(t, 0)
	dev := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, root), DevDir: dev, BitmapTTL: time.Minute, Now: clock})
	reg := registry(t, set)
	success := func(want string) {
		t.Helper()
		exp := "# HELP mdcluster_md_bitmap_read_success Whether the last read of the write-intent bitmap from a member device succeeded (1) or not (0).\n" +
			"# TYPE mdcluster_md_bitmap_read_success gauge\n" + want
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "mdcluster_md_bitmap_read_success"); err != nil {
			t.Fatal(err)
		}
	}
	// No device nodes yet: md0, md3, md4 and md5 have bitmaps; md3's first in-sync member is vda.
	failed := `mdcluster_md_bitmap_read_success{device="md0",member="vda"} 0
mdcluster_md_bitmap_read_success{device="md3",member="vda"} 0
mdcluster_md_bitmap_read_success{device="md4",member="vda"} 0
mdcluster_md_bitmap_read_success{device="md5",member="vda"} 0
`
	success(failed)
	if n, _ := testutil.GatherAndCount(reg, "mdcluster_md_bitmap_slot_dirty_chunks"); n != 0 {
		t.Fatalf("%d dirty-chunk samples without devices", n)
	}
	gunzipTo(t, "raid1-1.2-bitmap/vda.img.gz", filepath.Join(dev, "vda"))
	now = now.Add(59 * time.Second)
	success(failed) // still cached
	now = now.Add(time.Second)
	success(strings.ReplaceAll(failed, "} 0", "} 1"))
	exp := "# HELP mdcluster_md_bitmap_read_age_seconds Time since the bitmap figures were read from disk; they are reused for a while to bound I/O.\n" +
		"# TYPE mdcluster_md_bitmap_read_age_seconds gauge\n"
	for _, d := range []string{"md0", "md3", "md4", "md5"} {
		exp += fmt.Sprintf("mdcluster_md_bitmap_read_age_seconds{device=%q} 0\n", d)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "mdcluster_md_bitmap_read_age_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestSuperMinor(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"1.0": 0, "1.1": 1, "1.2": 2, "0.90": -1, "1.3": -1, "external:imsm": -1, "": -1} {
		got, ok := superMinor(v)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("superMinor(%q) = %d, want %d", v, got, want)
		}
	}
}
