package metrics

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Desc is prometheus.Desc, short for the tests.
type Desc = prometheus.Desc

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// descName returns a descriptor's fully-qualified name.
func descName(d *Desc) string {
	m := fqNameRE.FindStringSubmatch(d.String())
	if m == nil {
		panic("no fqName in " + d.String())
	}
	return m[1]
}

// writeGolden gathers g and writes the families named to path in the text format.
func writeGolden(t *testing.T, g prometheus.Gatherer, path string, names []string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if slices.Contains(names, mf.GetName()) {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
