package etcdembed

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is an io.Writer for a slog handler shared by etcd's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureStderr runs f with os.Stderr redirected and returns what was written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() {
		os.Stderr = old
	}()
	f()
	w.Close()
	return <-done
}

// A member started and stopped cleanly logs through the agent's slog handler only: text lines,
// etcd's narrative at debug, no error line (the listeners etcd closes at a stop are not
// failures), no stack trace, nothing on stderr.
func TestLogsThroughSlog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf lockedBuffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		stderr := captureStderr(t, func() {
			urls, err := FreeURLs(2)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Start(t.TempDir(), WithClientURLs(urls[0]), WithPeerURLs(urls[1]), WithLogger(log), WithUnsafeNoFsync())
			if err != nil {
				t.Fatal(err)
			}
			cli, err := NewClient(ClientConfig{Endpoints: m.ClientURLs(), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cli.Put(t.Context(), "k", "v"); err != nil {
				t.Fatal(err)
			}
			cli.Close()
			m.Close()
		})
		out := buf.String()
		if stderr != "" {
			t.Errorf("level %s: stderr:\n%s", level, stderr)
		}
		for _, bad := range []string{"level=ERROR", "setting up serving from embedded etcd failed", "stacktrace", "errorVerbose", "\n{", "http: Server closed"} {
			if strings.Contains("\n"+out, bad) {
				t.Errorf("level %s: log has %q:\n%s", level, bad, out)
			}
		}
		lines := strings.Count(out, "\n")
		switch {
		case level == slog.LevelDebug && (lines < 10 || !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "member=default")):
			t.Errorf("debug: %d lines, want etcd's narrative with its member name:\n%s", lines, out)
		case level == slog.LevelInfo && strings.Contains(out, "level=DEBUG"):
			t.Errorf("info: debug lines:\n%s", out)
		}
		t.Logf("level %s: %d lines; above debug:\n%s", level, lines, grepNot(out, "level=DEBUG"))
	}
}

func grepNot(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
