package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

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

func gather(b *testing.B, g prometheus.Gatherer) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrape64 scrapes 64 arrays with each collector; "go run ." prints the ratio.
func BenchmarkScrape64(b *testing.B) {
	root := tree(b, 64)
	node := nodeRegistry(b, root)
	ours := ourRegistry(b, root, devDir(b), true)
	compat := ourRegistry(b, root, "", true)
	b.Run("node_exporter-mdadm", func(b *testing.B) { gather(b, node) })
	b.Run("mdcluster-md", func(b *testing.B) { gather(b, ours) })
	b.Run("mdcluster-md-no-bitmap", func(b *testing.B) { gather(b, compat) })
}
