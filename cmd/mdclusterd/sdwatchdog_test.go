package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type health struct{ err atomic.Pointer[error] }

func (h *health) Alive() error {
	if e := h.err.Load(); e != nil {
		return *e
	}
	return nil
}

// systemd's watchdog is petted only while the agent makes progress: while Alive fails no
// WATCHDOG=1 goes out (systemd then restarts a hung agent), and petting resumes with progress
// (review item 12: the pet came from its own goroutine whatever the loop did).
func TestSystemdWatchdogFollowsHealth(t *testing.T) {
	notify := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", notify)
	t.Setenv("WATCHDOG_USEC", "100000") // pets every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	h := &health{}
	stuck := errors.New("a pass has run for 10m")
	h.err.Store(&stuck)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { systemdWatchdog(ctx, h, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	defer func() { cancel(); <-done }()
	buf := make([]byte, 256)
	// Twenty intervals with the agent stuck: nothing.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("petted while stuck: %q", buf[:n])
	}
	h.err.Store(nil)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "WATCHDOG=1") {
		t.Fatalf("no pet once the agent progresses: %q %v", buf[:n], err)
	}
}
