// Command metrics-vs-node-exporter compares a scrape of mdcluster's md collector with node_exporter's mdadm
// collector on the same sysfs and /proc/mdstat: 64 arrays replicated from the md package's
// captures. It is its own module so that node_exporter stays out of mdcluster's go.mod.
//
//	cd scripts/bench/metrics-vs-node-exporter
//	go run .                    # both scrapes, interleaved, and the ratio
//	go test -bench . -benchmem  # the same as Go benchmarks; go test also checks node_md_* equality
package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/node_exporter/collector"

	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/metrics"
	"mdcluster.dev/metrics/fixture"
)

const capturesDir = "../../../mdcluster/md/testdata"

// nodeAdapter runs node_exporter's mdadm collector as a prometheus.Collector, the way its own
// tests do.
type nodeAdapter struct{ c collector.Collector }

func (a nodeAdapter) Collect(ch chan<- prometheus.Metric) {
	if err := a.c.Update(ch); err != nil {
		panic(err)
	}
}
func (a nodeAdapter) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(a, ch) }

// tree writes n arrays (0: each capture once) below a new temporary root.
func tree(tb tb, n int) string {
	tb.Helper()
	caps, err := fixture.Load(capturesDir)
	if err != nil {
		tb.Fatal(err)
	}
	root := tb.TempDir()
	if err := fixture.Write(root, caps, n); err != nil {
		tb.Fatal(err)
	}
	return root
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// nodeRegistry points node_exporter's --path.sysfs and --path.procfs at root (they are global
// flags) and registers its mdadm collector.
func nodeRegistry(tb tb, root string) *prometheus.Registry {
	tb.Helper()
	if _, err := kingpin.CommandLine.Parse([]string{"--path.sysfs=" + filepath.Join(root, "sys"),
		"--path.procfs=" + filepath.Join(root, "proc")}); err != nil {
		tb.Fatal(err)
	}
	c, err := collector.NewMdadmCollector(quiet)
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(nodeAdapter{c})
	return reg
}

// ourRegistry registers mdcluster's md collector with node_md_* on. devDir "" leaves bitmap
// reads out.
func ourRegistry(tb tb, root, devDir string, nodeCompat bool) *prometheus.Registry {
	tb.Helper()
	fs, err := md.NewFS(root)
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewSet(quiet).AddMD(metrics.MDOptions{FS: fs, NodeCompat: nodeCompat, DevDir: devDir}))
	return reg
}

// devDir makes every member name of the captures (vda…vdd) a copy of one real lab image with
// an internal bitmap, so bitmap reads (cached with the default TTL) are part of the scrape.
func devDir(b tb) string {
	b.Helper()
	dir := b.TempDir()
	src := "../../../bitmap/testdata/images/raid1-1.2-bitmap/vda.img.gz"
	if err := gunzip(src, filepath.Join(dir, "vda")); err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{"vdb", "vdc", "vdd"} {
		if err := os.Symlink(filepath.Join(dir, "vda"), filepath.Join(dir, n)); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}
