package controld

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mdcluster.dev/dlm/memlock"
)

// logRecorder is a slog handler that keeps the messages, so a test can wait for a step.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }
func (r *logRecorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.msgs, msg)
}

// TestFenceEndsWithOwnSession: a node waiting to fence a failed peer — the fence wait, a fence
// command that runs on, or one that fails and is retried — returns ErrLeaseLost as soon as its
// own session ends (it is the one about to be fenced now), kills the fence command, and has not
// touched the failed node's membership.
func TestFenceEndsWithOwnSession(t *testing.T) {
	for _, tc := range []struct {
		name, waitFor string
		cfg           func(*Config, string)
	}{
		{"fence wait", "waiting for the failed node's watchdog", func(c *Config, _ string) { c.FenceWait = time.Hour }},
		{"command runs on", "", func(c *Config, pidFile string) {
			c.FenceCommand = "sleep 600 & echo $! > " + pidFile + "; wait"
		}},
		{"command retried", "fence command failed: recovery waits", func(c *Config, _ string) { c.FenceCommand = "exit 1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := memlock.NewService()
			rec := &logRecorder{}
			pidFile := filepath.Join(t.TempDir(), "pid")
			n1 := newNode(t, svc, 1, "")
			n1.stop()
			cfg := n1.config("")
			cfg.Log = slog.New(rec)
			tc.cfg(&cfg, pidFile)
			n1.startWith(t, cfg)
			n2 := newNode(t, svc, 2, "")
			const ls = "mdlab"
			n1.online(t, ls)
			n2.online(t, ls)
			eventually(t, "both joined", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
			n2.stop()
			n2.sess.Expire()
			if tc.waitFor != "" {
				eventually(t, "node1 fences node2", func() bool { return rec.has(tc.waitFor) })
			} else {
				eventually(t, "the fence command runs", func() bool { _, err := os.Stat(pidFile); return err == nil })
			}
			n1.sess.Expire()
			select {
			case err := <-n1.done:
				n1.done <- err // for stop
				if !errors.Is(err, ErrLeaseLost) {
					t.Fatalf("Run = %v, want ErrLeaseLost", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run still fencing node2 after its own session ended")
			}
			if got := members(n1.fs, ls); !reflect.DeepEqual(got, []int{1, 2}) {
				t.Errorf("members %v: node2 removed without being fenced", got)
			}
			if c, _ := n1.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2}) {
				t.Errorf("comms %v: node2's removed without being fenced", c)
			}
			if tc.waitFor == "" {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					t.Fatal(err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				eventually(t, "the fence command's child is killed", func() bool { return !running(pid) })
			}
		})
	}
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
