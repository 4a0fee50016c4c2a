package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"mdcluster.dev/internal/faults/wire"
)

// stream writes lines to the stream port, one write() per line, one line at a time.
type stream struct {
	mu sync.Mutex
	f  *os.File
}

func openStream(port string) (*stream, error) {
	f, err := os.OpenFile(port, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("workload: open stream port: %w", err)
	}
	return &stream{f: f}, nil
}

// send stamps m with the monotonic clock and writes it. The write returns once QEMU has the
// line; a failed write is fatal to the campaign's bookkeeping, so it panics the workload (the
// host sees the stream end without a goodbye and reports it).
func (s *stream) send(m wire.Msg) {
	b, err := json.Marshal(withMono(m))
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		panic(fmt.Sprintf("workload: stream port: %v", err))
	}
}

func (s *stream) close() { s.f.Close() }

func withMono(m wire.Msg) wire.Msg {
	if m.Mono == 0 {
		m.Mono = MonoNow()
	}
	return m
}

// MonoNow reads CLOCK_MONOTONIC in ns (the clock of the agent's token log).
func MonoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
