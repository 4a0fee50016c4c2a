package cli

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBounded runs mdcadm with args and fails the test if it has not
// finished within limit (the run goes on in the background then).
func runBounded(t *testing.T, limit time.Duration, args ...string) (string, string, int) {
	t.Helper()
	type result struct {
		o, e string
		rc   int
	}
	done := make(chan result, 1)
	go func() {
		env, o, e := testEnv(t)
		rc := Run(args, env)
		done <- result{o.String(), e.String(), rc}
	}()
	select {
	case r := <-done:
		return r.o, r.e, r.rc
	case <-time.After(limit):
		t.Fatalf("mdcadm %q still runs after %s", args, limit)
	}
	return "", "", 0
}

// TestExamineBitmapNotAFile: -X of a character device or a FIFO fails at
// once as mdadm does (its open with O_DIRECT answers EINVAL), instead of
// counting bits of /dev/urandom for ever.
func TestExamineBitmapNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"/dev/urandom", "/dev/zero", fifo} {
		o, e, rc := runBounded(t, 5*time.Second, "-X", dev)
		want := "mdadm: failed to open bitmap file " + dev + ": Invalid argument\n"
		if rc != 1 || o != "" || e != want {
			t.Errorf("-X %s: rc %d, stdout %q, stderr %q; want 1, nothing, %q", dev, rc, o, e, want)
		}
	}
}

// TestExamineBitmapGarbageFile: a large file that holds no bitmap (random
// header: bad magic and version) is refused without reading it through.
// mdadm counts the bits before it checks the version, but prints none of
// them for an unknown version; mdcadm does not count what it will not
// print.
func TestExamineBitmapGarbageFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "garbage")
	hdr := make([]byte, 256)
	for i := range hdr {
		hdr[i] = byte(i*131 + 7)
	}
	binary.LittleEndian.PutUint64(hdr[40:], 1<<62) // sync_size
	binary.LittleEndian.PutUint32(hdr[52:], 512)   // chunksize
	if err := os.WriteFile(file, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 1<<40); err != nil { // sparse: 1 TiB of holes
		t.Skipf("sparse file: %v", err)
	}
	o, e, rc := runBounded(t, 5*time.Second, "-X", file)
	if rc != 1 || !strings.Contains(e, "unknown bitmap version") || !strings.HasPrefix(o, "        Filename : "+file+"\n") {
		t.Errorf("rc %d, stdout %q, stderr %q", rc, o, e)
	}
}

// TestExamineBitmapFileNodes: a bitmap file whose nodes field is
// 0x7fffffff is refused with one line naming the field, in bounded time
// and memory (it used to list two billion slots).
func TestExamineBitmapFileNodes(t *testing.T) {
	hdr := make([]byte, 8192)
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 0x6d746962) // magic
	le.PutUint32(hdr[4:], 5)          // version: clustered
	le.PutUint64(hdr[40:], 1024)      // sync_size
	le.PutUint32(hdr[52:], 512)       // chunksize
	le.PutUint32(hdr[56:], 5)         // daemon_sleep
	le.PutUint32(hdr[68:], 0x7fffffff)
	file := filepath.Join(t.TempDir(), "bitmap")
	if err := os.WriteFile(file, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	o, e, rc := runBounded(t, 5*time.Second, "-X", file)
	runtime.ReadMemStats(&after)
	if rc != 1 || o != "" || strings.Count(e, "\n") != 1 || !strings.Contains(e, "field nodes at offset 68") {
		t.Errorf("rc %d, stdout %q, stderr %q; want 1, nothing, one line naming nodes", rc, o, e)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MiB", grew>>20)
	}
}

// TestExamineBitmapFileOnce: a good bitmap file prints its Filename and
// Magic lines once, as mdadm does (they were printed twice).
func TestExamineBitmapFileOnce(t *testing.T) {
	hdr := make([]byte, 8192)
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 0x6d746962)
	le.PutUint32(hdr[4:], 4)
	le.PutUint64(hdr[40:], 64)
	le.PutUint32(hdr[52:], 512)
	le.PutUint32(hdr[56:], 5)
	hdr[256] = 0x0f
	file := filepath.Join(t.TempDir(), "bitmap")
	if err := os.WriteFile(file, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	o, e, rc := runBounded(t, 5*time.Second, "-X", file)
	if rc != 0 || e != "" || strings.Count(o, "Filename : ") != 1 || strings.Count(o, "Magic : ") != 1 ||
		!strings.Contains(o, "Bitmap : 64 bits (chunks), 4 dirty (6.2%)\n") {
		t.Errorf("rc %d, stderr %q, stdout:\n%s", rc, e, o)
	}
}
