package cli

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testEnv is a root run in UTC with no host state: an empty root for
// sysfs, /proc, /run and the config file.
func testEnv(t *testing.T) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var o, e bytes.Buffer
	root := t.TempDir()
	// Socket and Mdadm point nowhere: no test may reach a real agent or mdadm.
	return &Env{Stdout: &o, Stderr: &e, Root: root, Euid: 0, Location: time.UTC, Hostname: "testhost",
		Socket: filepath.Join(root, "no-agent.sock"), Mdadm: filepath.Join(root, "no-mdadm")}, &o, &e
}

// runArgs runs mdcadm with args and returns stdout, stderr and the code.
func runArgs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	env, o, e := testEnv(t)
	rc := Run(args, env)
	return o.String(), e.String(), rc
}

func gunzipTo(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.LimitReader(zr, 256<<20)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenImages runs mdcadm -E, -X and -Q on every lab image (decompressed
// to a regular file) and compares stderr+stdout and the exit code with the
// real mdadm 4.2's output captured next to the image (device named DEVICE;
// -X was captured on a read-only loop device, whose member view mdcadm
// must also give for the file). stderr comes first, as in the captures:
// mdadm's stdout is buffered when redirected.
func TestGoldenImages(t *testing.T) {
	root := filepath.Join("..", "..", "..", "..", "bitmap", "testdata")
	var imgs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".img.gz") {
			imgs = append(imgs, p)
		}
		return nil
	})
	if len(imgs) == 0 {
		t.Fatal("no images under bitmap/testdata")
	}
	n := 0
	for _, img := range imgs {
		base := strings.TrimSuffix(img, ".img.gz")
		name, _ := filepath.Rel(root, base)
		t.Run(filepath.ToSlash(name), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "dev.img")
			gunzipTo(t, img, file)
			for _, k := range []struct{ kind, flag string }{{"examine", "-E"}, {"examine-bitmap", "-X"}, {"query", "-Q"}} {
				raw, err := os.ReadFile(base + "." + k.kind + ".golden")
				if err != nil {
					t.Errorf("%s: %v", k.kind, err)
					continue
				}
				n++
				want, wantRC := splitRC(t, strings.ReplaceAll(string(raw), "DEVICE", file))
				o, e, rc := runArgs(t, k.flag, file)
				if diff := cmp.Diff(want, e+o); diff != "" {
					t.Errorf("mdcadm %s (-mdadm +mdcadm):\n%s", k.flag, diff)
				}
				if rc != wantRC {
					t.Errorf("mdcadm %s: rc %d, mdadm %d", k.flag, rc, wantRC)
				}
			}
		})
	}
	t.Logf("%d golden outputs of %d images", n, len(imgs))
}

func splitRC(t *testing.T, s string) (string, int) {
	t.Helper()
	i := strings.LastIndex(s, "rc=")
	if i < 0 || (i > 0 && s[i-1] != '\n') {
		t.Fatalf("golden without rc line:\n%s", s)
	}
	rc, err := strconv.Atoi(strings.TrimSpace(s[i+3:]))
	if err != nil {
		t.Fatal(err)
	}
	return s[:i], rc
}
