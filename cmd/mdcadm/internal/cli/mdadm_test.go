//go:build mdadm

// Run with: go test -tags mdadm ./cmd/mdcadm/internal/cli
// Needs the real mdadm 4.2 (Debian 12: apt-get install mdadm) in PATH and
// root. It compares mdcadm with mdadm on the same command lines over the
// lab images (regular files) and on bad command lines.

package cli

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func realMdadm(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command("mdadm", args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var x *exec.ExitError
	switch {
	case errors.As(err, &x):
		return o.String(), e.String(), x.ExitCode()
	case err != nil:
		t.Skipf("mdadm: %v", err)
	}
	return o.String(), e.String(), 0
}

// TestAgainstMdadm runs both programs; getopt's messages name the program,
// so "mdcadm" is read as "mdadm" there. -X on image files is left out:
// mdadm reads a file as an external bitmap, mdcadm shows the member's.
func TestAgainstMdadm(t *testing.T) {
	dir := t.TempDir()
	img := func(set, dev string) string {
		p := filepath.Join(dir, set+"-"+dev+".img")
		gunzipTo(t, filepath.Join("..", "..", "..", "..", "bitmap", "testdata", "images", set, dev+".img.gz"), p)
		return p
	}
	a, b := img("raid1-1.2-bitmap", "vda"), img("raid1-1.2-degraded", "vdb")
	c, d := img("clustered-raid1-4slots", "vda"), img("raid10-1.2-bitmap", "vdc")
	for _, args := range []string{
		"-E " + a, "--examine " + a + " " + b + " " + c + " " + d, "-Eb " + a + " " + b + " " + c + " " + a,
		"-E --scan " + d + " " + a, "-Ebv " + a + " " + b + " " + a, "-E -Y " + c, "--examine --export " + d,
		"-E --homehost=node1 " + a, "-E --homehost node1 " + c, "-E --sparc2.2 " + a, "-E -e1.2 " + a,
		"-Q " + a + " " + b, a, "--query " + c, "-E -- " + a, a + " -E", "-Q " + a + " -E " + b,
		"-E " + a + " -Q", "-E /nonexistent", "-Q /nonexistent", "-X /nonexistent", "-E /etc/hostname",
		"-Q /etc/hostname", // (-X of a file under 256 bytes: mdadm prints a stale errno)
		"--foo", "-Z", "-E -k", "--r", "--ex", "--exa " + a, "--detail=x", "--level=1 " + a, "-l1 -n2",
		"/x /y", "/x -D", "-C -D", "-E -D /x", "-D -E /x", "-Q -E", "-E -e foo /x", "-D -N x /x",
		"--misc -U x", "-X -D --sparc2.2", "-D --bitmap=x /x", "-D -a /x", "--assemble --detail", "-E", "-D",
		"-c", "--homehost", "--write-behind=3 /x", "-E --action=foo", "--misc " + a, "-D " + a,
	} {
		t.Run(args, func(t *testing.T) {
			f := strings.Fields(args)
			wo, we, wrc := realMdadm(t, f...)
			o, e, rc := runArgs(t, f...)
			e = strings.ReplaceAll(e, "mdcadm: unrecognized", "mdadm: unrecognized")
			e = strings.ReplaceAll(e, "Usage: mdcadm", "Usage: mdadm")
			for _, p := range []string{"mdcadm: option", "mdcadm: invalid option"} {
				e = strings.ReplaceAll(e, p, "mdadm"+p[6:])
			}
			if diff := cmp.Diff(wo+"--stderr--\n"+we, o+"--stderr--\n"+e); diff != "" {
				t.Errorf("(-mdadm +mdcadm):\n%s", diff)
			}
			if rc != wrc {
				t.Errorf("rc %d, mdadm %d", rc, wrc)
			}
		})
	}
}
