// Package bench compares a scrape of mdcluster's md collector with node_exporter's mdadm
// collector on the same sysfs and /proc/mdstat: 64 arrays replicated from the md package's
// captures. It is its own module so that node_exporter stays out of mdcluster's go.mod.
//
//	cd scripts/bench/metrics-vs-node-exporter && go test -bench . -benchmem
package bench

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
func tree(tb testing.TB, n int) string {
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
func nodeRegistry(tb testing.TB, root string) *prometheus.Registry {
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
func ourRegistry(tb testing.TB, root, devDir string, nodeCompat bool) *prometheus.Registry {
	tb.Helper()
	fs, err := md.NewFS(root)
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewSet(quiet).AddMD(metrics.MDOptions{FS: fs, NodeCompat: nodeCompat, DevDir: devDir}))
	return reg
}

// samples renders the node_md_* samples of a gather as sorted "name{labels} value" lines.
func samples(tb testing.TB, g prometheus.Gatherer) []string {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "node_md_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s %s %s %g", mf.GetName(), mf.GetType(), labels(m), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(out)
	return out
}

func labels(m *dto.Metric) string {
	var l []string
	for _, p := range m.GetLabel() {
		l = append(l, p.GetName()+"="+p.GetValue())
	}
	sort.Strings(l)
	return "{" + strings.Join(l, ",") + "}"
}

// TestSameAsNodeExporter: over every capture and over the 64-array tree, mdcluster's node_md_*
// samples (names, types, labels, values) are exactly node_exporter's.
func TestSameAsNodeExporter(t *testing.T) {
	for _, n := range []int{0, 64} {
		root := tree(t, n)
		want, got := samples(t, nodeRegistry(t, root)), samples(t, ourRegistry(t, root, "", true))
		if len(want) == 0 {
			t.Fatal("node_exporter reported nothing")
		}
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%d arrays: node_md_* differ\n--- node_exporter\n%s\n--- mdcluster\n%s", n, strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
}

// devDir makes every member name of the captures (vda…vdd) a copy of one real lab image with
// an internal bitmap, so bitmap reads (cached with the default TTL) are part of the scrape.
func devDir(b *testing.B) string {
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

func gather(b *testing.B, g prometheus.Gatherer) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrape64 scrapes 64 arrays with each collector, then reports mdcluster's time per
// scrape over node_exporter's as ratio (goal: at most 1).
func BenchmarkScrape64(b *testing.B) {
	root := tree(b, 64)
	node := nodeRegistry(b, root)
	dev := devDir(b)
	ours := ourRegistry(b, root, dev, true)
	compat := ourRegistry(b, root, "", true)
	b.Run("node_exporter-mdadm", func(b *testing.B) { gather(b, node) })
	b.Run("mdcluster-md", func(b *testing.B) { gather(b, ours) })
	b.Run("mdcluster-md-no-bitmap", func(b *testing.B) { gather(b, compat) })
	b.Run("ratio", func(b *testing.B) {
		rn := testing.Benchmark(func(b *testing.B) { gather(b, node) })
		ro := testing.Benchmark(func(b *testing.B) { gather(b, ours) })
		for b.Loop() {
		}
		b.ReportMetric(float64(rn.NsPerOp())/1e3, "node-µs/scrape")
		b.ReportMetric(float64(ro.NsPerOp())/1e3, "mdcluster-µs/scrape")
		b.ReportMetric(float64(ro.NsPerOp())/float64(rn.NsPerOp()), "ratio")
	})
}
