package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/procfs/sysfs"

	"mdcluster.dev/mdcluster/md"
)

// tb is the part of testing.TB the helpers use, so they serve the benchmarks and main alike.
type tb interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
}

// mainTB implements tb for main: fatal errors exit, temporary directories are removed at exit.
type mainTB struct{ dirs []string }

func (m *mainTB) Helper()           {}
func (m *mainTB) Fatal(args ...any) { m.cleanup(); log.Fatal(args...) }
func (m *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "metrics-vs-node-exporter-")
	if err != nil {
		log.Fatal(err)
	}
	m.dirs = append(m.dirs, d)
	return d
}
func (m *mainTB) cleanup() {
	for _, d := range m.dirs {
		os.RemoveAll(d)
	}
}

// main times scrapes of the 64-array tree by node_exporter's mdadm collector and by
// mdcluster's md collector in alternating rounds (so both see the same machine load) and
// prints the median time per scrape of each and their ratio.
func main() {
	arrays := flag.Int("arrays", 64, "arrays in the replicated tree")
	rounds := flag.Int("rounds", 7, "alternating rounds")
	per := flag.Duration("round", 500*time.Millisecond, "time per collector and round")
	flag.Parse()
	m := &mainTB{}
	defer m.cleanup()
	root := tree(m, *arrays)
	node := nodeRegistry(m, root)
	ours := ourRegistry(m, root, devDir(m), true)
	compat := ourRegistry(m, root, "", true)
	// The sysfs readers alone: md.Scanner (what the md collector reads) and procfs's
	// sysfs.Mdraids (what node_exporter reads besides /proc/mdstat, which both parse alike).
	mfs, err := md.NewFS(root)
	if err != nil {
		log.Fatal(err)
	}
	pfs, err := sysfs.NewFS(filepath.Join(root, "sys"))
	if err != nil {
		log.Fatal(err)
	}
	scan := mfs.NewScanner()
	readMD := gatherFunc(func() error { _, err := scan.Arrays(); return err })
	readProcfs := gatherFunc(func() error { _, err := pfs.Mdraids(); return err })
	var tn, to, tc, tm, tp []float64
	for range *rounds {
		tn = append(tn, perScrape(node, *per))
		to = append(to, perScrape(ours, *per))
		tc = append(tc, perScrape(compat, *per))
		tm = append(tm, perScrape(readMD, *per))
		tp = append(tp, perScrape(readProcfs, *per))
	}
	mn, mo, mc := median(tn), median(to), median(tc)
	fmt.Printf("arrays %d, %d rounds, median time per scrape:\n", *arrays, *rounds)
	fmt.Printf("  node_exporter mdadm collector      %8.0f µs\n", mn)
	fmt.Printf("  mdcluster md (bitmaps, TTL cache)  %8.0f µs\n", mo)
	fmt.Printf("  mdcluster md (no bitmap reads)     %8.0f µs\n", mc)
	fmt.Printf("  of which reading sysfs: md.Scanner %.0f µs, procfs sysfs.Mdraids %.0f µs\n", median(tm), median(tp))
	fmt.Printf("ratio mdcluster/node_exporter %.2f (no bitmap reads %.2f); goal <= 1.0\n", mo/mn, mc/mn)
}

// gatherFunc times a reader as if it were a scrape.
type gatherFunc func() error

func (f gatherFunc) Gather() ([]*dto.MetricFamily, error) { return nil, f() }

// perScrape returns the mean µs per Gather over about d.
func perScrape(g prometheus.Gatherer, d time.Duration) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < d || n == 0 {
		if _, err := g.Gather(); err != nil {
			log.Fatal(err)
		}
		n++
	}
	return float64(time.Since(start).Microseconds()) / float64(n)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
