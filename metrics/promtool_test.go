package metrics

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// TestPromtoolCheckMetrics runs promtool's linter over a whole scrape: every collector, with
// the captured sysfs trees, a clustered bitmap image, a DLM tree and an agent. promtool comes
// with Debian's "prometheus" package; the test fails without it rather than skip.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found in PATH: install Debian's prometheus package (apt-get install prometheus), which provides /usr/bin/promtool")
	}
	dev := t.TempDir()
	kmsg := filepath.Join(dev, "kmsg")
	if err := os.WriteFile(kmsg, []byte(kmsgRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	gunzipTo(t, filepath.Join("clustered-raid1-4slots", "vda.img.gz"), filepath.Join(dev, "vda"))
	set := NewSet(testLogger(t)).
		AddMD(MDOptions{FS: newFS(t, captureRoot(t, 0)), NodeCompat: true, DevDir: dev, KernelLog: kmsg}).
		AddDLM(dlmTree(t, "two-nodes")).
		AddAgent(twoNodeAgent())
	reg, err := NewRegistry(set)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
