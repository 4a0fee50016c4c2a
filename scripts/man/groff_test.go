//go:build packaging

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderedByMan builds mdclusterd, generates its page and has groff lay it out with
// warnings on: the page must be valid roff and carry every command's options.
func TestRenderedByMan(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatalf("groff (Debian package groff-base, which man-db needs) is missing: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mdclusterd")
	if out, err := exec.Command("go", "build", "-o", bin, "mdcluster.dev/cmd/mdclusterd").CombinedOutput(); err != nil {
		t.Fatalf("build mdclusterd: %v\n%s", err, out)
	}
	page, err := Generate(bin, "2026-01-02")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(groff, "-man", "-Tascii", "-ww", "-P-c", "-P-b", "-P-u", "-P-o")
	cmd.Stdin = strings.NewReader(page)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s\npage:\n%s", err, stderr.String(), page)
	}
	text := string(out)
	for _, want := range []string{"MDCLUSTERD RUN", "--log-level", "MDCLUSTERD CHECK-CONFIG", "cluster agent for Linux md RAID"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, text)
		}
	}
}
