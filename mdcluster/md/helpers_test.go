//go:build !vmguest

package md

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadCapture unpacks testdata/<name>.txtar (written by internal/capture from a lab guest) into
// a temporary root and returns an FS on it.
func loadCapture(t *testing.T, name string) FS {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for path, body := range parseTxtar(t, string(data)) {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// parseTxtar splits "-- path --\ncontent" sections.
func parseTxtar(t *testing.T, s string) map[string]string {
	t.Helper()
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
			t.Fatalf("txtar: text before the first file: %q", ln)
		}
		body.WriteString(ln)
	}
	flush()
	return files
}

func ptr[T any](v T) *T { return &v }

func mustUUID(t *testing.T, s string) UUID {
	t.Helper()
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
