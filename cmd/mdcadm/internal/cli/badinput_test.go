package cli

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corrupt copies the raid1-1.2-bitmap lab image (superblock at 4 KiB,
// bitmap 8 sectors after it) and lets mod change its bytes.
func corrupt(t *testing.T, mod func(b []byte)) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "bad.img")
	gunzipTo(t, filepath.Join("..", "..", "..", "..", "bitmap", "testdata", "images", "raid1-1.2-bitmap", "vda.img.gz"), file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mod(b)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestBadInput checks that damaged metadata gives one line on stderr that
// names the bad field, nothing on stdout, and mdadm's exit code.
func TestBadInput(t *testing.T) {
	le := binary.LittleEndian
	const sb, bm = 4096, 8192
	for _, c := range []struct {
		name string
		mod  func([]byte)
		flag string
		want []string // parts of the one stderr line
	}{
		{"max_dev too large", func(b []byte) { le.PutUint32(b[sb+220:], 5000) }, "-E",
			[]string{"No md superblock detected on", "superblock field max_dev at offset 220"}},
		{"major version", func(b []byte) { le.PutUint32(b[sb+4:], 2) }, "-E",
			[]string{"No md superblock detected on", "superblock field major_version at offset 4"}},
		{"max_dev too large, -X", func(b []byte) { le.PutUint32(b[sb+220:], 5000) }, "-X",
			[]string{"no usable md superblock", "superblock field max_dev at offset 220"}},
		{"bitmap chunksize", func(b []byte) { le.PutUint32(b[bm+52:], 3000) }, "-X",
			[]string{"doesn't have bitmap", "field chunksize at offset 52"}},
		{"bitmap version 6", func(b []byte) { le.PutUint32(b[bm+4:], 6) }, "-X",
			[]string{"doesn't have bitmap", "lockless bitmap"}},
		{"bitmap daemon_sleep", func(b []byte) { le.PutUint32(b[bm+56:], 0) }, "-X",
			[]string{"doesn't have bitmap", "daemon_sleep at offset 56"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := corrupt(t, c.mod)
			o, e, rc := runArgs(t, c.flag, file)
			if o != "" {
				t.Errorf("stdout %q, want nothing", o)
			}
			if rc != 1 {
				t.Errorf("rc %d, want 1", rc)
			}
			if strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "mdadm: ") {
				t.Errorf("stderr %q: want one mdadm: line", e)
			}
			for _, w := range c.want {
				if !strings.Contains(e, w) {
					t.Errorf("stderr %q lacks %q", e, w)
				}
			}
		})
	}
}

// TestBadChecksum: a wrong checksum is shown, as mdadm --examine does.
func TestBadChecksum(t *testing.T) {
	file := corrupt(t, func(b []byte) { b[4096+200]++ }) // events
	o, _, rc := runArgs(t, "-E", file)
	if rc != 0 || !strings.Contains(o, "Checksum : ") || !strings.Contains(o, " - expected ") {
		t.Errorf("rc %d:\n%s", rc, o)
	}
}

// TestJSON decodes the --json forms of -E, -X and -Q on a lab image.
func TestJSON(t *testing.T) {
	file := corrupt(t, func([]byte) {})
	for _, flag := range []string{"-E", "-X", "-Q"} {
		o, e, rc := runArgs(t, flag, "--json", file)
		if rc != 0 || e != "" || !strings.HasPrefix(o, "{") || !strings.Contains(o, file) {
			t.Errorf("%s --json: rc %d, stderr %q\n%s", flag, rc, e, o)
		}
	}
	o, e, rc := runArgs(t, "-E", "--scan", "--json", file, file)
	if rc != 0 || e != "" || strings.Count(o, `"array_uuid"`) != 2 {
		t.Errorf("-E --scan --json: rc %d, stderr %q\n%s", rc, e, o)
	}
	dirty := filepath.Join(t.TempDir(), "dirty.img")
	gunzipTo(t, filepath.Join("..", "..", "..", "..", "bitmap", "testdata", "images", "raid1-1.0-bitmap-dirty", "vda.img.gz"), dirty)
	o, _, _ = runArgs(t, "-X", "--json", dirty)
	if !strings.Contains(o, `"dirty_extents"`) || !strings.Contains(o, `"bits": `) {
		t.Errorf("-X --json lacks bits or extents:\n%s", o)
	}
}
