// Package mdtest unpacks the md sysfs trees captured from the lab's kernel
// (mdcluster/md/testdata, written by scripts/vm/capture-md) for the tests of packages
// that read md: their decisions are tested over what the real kernel showed, not over a
// hand-written fake.
package mdtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Path returns the path of the capture testdata/<name>.txtar.
func Path(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name+".txtar")
}

// Unpack writes the files of a capture below root (sys/block/mdN/..., proc/mdstat).
func Unpack(t testing.TB, capture, root string) {
	t.Helper()
	data, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Parse(string(data))
	if err != nil {
		t.Fatalf("%s: %v", capture, err)
	}
	for path, body := range files {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Parse splits a capture's "-- path --\ncontent" sections.
func Parse(s string) (map[string]string, error) {
	files := map[string]string{}
	var cur string
	var body strings.Builder
	flush := func() {
		if cur != "" {
			files[cur] = body.String()
		}
		body.Reset()
	}
	for _, ln := range strings.SplitAfter(s, "\n") {
		trimmed := strings.TrimSuffix(ln, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") {
			flush()
			cur = strings.TrimSuffix(strings.TrimPrefix(trimmed, "-- "), " --")
			continue
		}
		if cur == "" && ln != "" && ln != "\n" {
			return nil, &parseError{ln}
		}
		body.WriteString(ln)
	}
	flush()
	return files, nil
}

type parseError struct{ line string }

func (e *parseError) Error() string { return "text before the first file: " + e.line }
