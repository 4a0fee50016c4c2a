package metrics

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.prom golden files")

// mdNames are every metric of the md collector without bitmap reads.
func mdNames(set *Set) []string {
	var names []string
	descs := make(chan *Desc, 200)
	go func() { set.parts[0].describe(descs); close(descs) }()
	for d := range descs {
		names = append(names, descName(d))
	}
	return names
}

// TestMDCaptures compares a scrape of every captured sysfs tree with testdata/md-captures.prom.
// The golden file was written with -update and checked against the captures by hand; the
// node_md_* part is also checked against node_exporter itself in
// scripts/bench/metrics-vs-node-exporter.
func TestMDCaptures(t *testing.T) {
	t.Parallel()
	set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, captureRoot(t, 0)), NodeCompat: true})
	reg := registry(t, set)
	golden := filepath.Join("testdata", "md-captures.prom")
	if *update {
		writeGolden(t, reg, golden, mdNames(set))
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(reg, f, mdNames(set)...); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="md"} 1
`), "mdcluster_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
}

// TestMDNodeCompatOff leaves node_md_* out.
func TestMDNodeCompatOff(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, captureRoot(t, 0))}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "node_") {
			t.Errorf("NodeCompat false but %s exported", mf.GetName())
		}
	}
}

// TestMDMissing: without /proc/mdstat (no md driver) the collector reports nothing and succeeds.
func TestMDMissing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{"sys/block", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, root), NodeCompat: true, DevDir: "/nonexistent"})
	reg := registry(t, set)
	if n, err := testutil.GatherAndCount(reg, mdNames(set)...); err != nil || n != 0 {
		t.Fatalf("got %d md samples, err %v; want none", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="md"} 1
`), "mdcluster_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
}

// TestMDBrokenTree: an unreadable attribute is an error, reported as collector_success 0.
func TestMDBrokenTree(t *testing.T) {
	t.Parallel()
	root := captureRoot(t, 0)
	if err := os.WriteFile(filepath.Join(root, "sys/block/md0/md/raid_disks"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, root)}))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="md"} 0
`), "mdcluster_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
}
