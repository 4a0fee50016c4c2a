//go:build vm

package scenario

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// quickStart returns the commands of the README's quick start section: its indented code lines.
func quickStart(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Quick start")
	if !ok {
		t.Fatalf("%s has no \"## Quick start\" section", readme)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	var cmds []string
	for _, ln := range strings.Split(sec, "\n") {
		if c, ok := strings.CutPrefix(ln, "    "); ok && strings.TrimSpace(c) != "" {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	return cmds
}

// TestReadmeQuickStart follows the README's quick start to the letter on a fresh clone of the
// commit under test: the section must hold exactly the two set-up commands, the second must be
// the one CI runs (.ci/run), and the first, run verbatim in the clone, must boot the lab and
// narrate both demo parts to their end. The clone shares the lab cache (MDCLUSTER_LAB) so the
// Debian packages are not fetched twice; `make lab` still rebuilds the binaries, the guest tests
// and the initramfs from the clone.
func TestReadmeQuickStart(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	root := strings.TrimSpace(string(top))
	cmds := quickStart(t, filepath.Join(root, "README.md"))
	if len(cmds) != 2 || cmds[0] != "make demo" || cmds[1] != "make test" {
		t.Fatalf("the README's quick start should be exactly `make demo` and `make test`, it has %q", cmds)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cmds[1]) + ` 2>&1`).Match(ci) {
		t.Fatalf(".ci/run does not run the README's test command %q", cmds[1])
	}
	clone := filepath.Join(t.TempDir(), "mdcluster")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	lab := os.Getenv("MDCLUSTER_LAB")
	if lab == "" {
		lab = filepath.Join(root, ".lab")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmds[0])
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "MDCLUSTER_LAB="+lab)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("`%s` in a fresh clone: %v after %.0fs", cmds[0], err, time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("`%s` failed: %v\n%s", cmds[0], err, out.String())
	}
	for _, want := range []string{"part 1 complete: node2's last write survived its crash", "demo complete: node2 assembled the RAID5"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("`%s` did not narrate %q:\n%s", cmds[0], want, out.String())
		}
	}
	for _, ln := range strings.Split(out.String(), "\n") {
		if strings.Contains(ln, "complete") {
			t.Log(strings.TrimSpace(ln))
		}
	}
}
