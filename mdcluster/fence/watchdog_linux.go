// Package fence makes a node that has lost its cluster session stop touching shared disks before
// anyone else may take over: it pets the Linux watchdog only while the session is valid, so a
// node that hangs, loses its network or loses its session is reset by the hardware (or softdog)
// before its lease's TTL runs out at the other nodes.
package fence

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by a Watchdog after Close or Disarm.
var ErrClosed = errors.New("fence: watchdog is closed")

// Watchdog is an open Linux watchdog device (/dev/watchdog). Once opened, the machine resets
// unless Pet is called at least once per Timeout, or the watchdog is disarmed with Disarm.
type Watchdog struct {
	mu      sync.Mutex
	f       *os.File
	timeout time.Duration
}

// OpenWatchdog opens dev and sets its timeout (rounded up to whole seconds, as the driver
// counts). The device arms as soon as it is open.
//
// A watchdog that cannot be set up is closed again: with the magic character (stopped) unless
// KeepArmed is given, for a watchdog a previous process may have left armed over something that
// still runs — stopping it then would end that protection.
func OpenWatchdog(dev string, timeout time.Duration, opts ...OpenOption) (*Watchdog, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		return nil, fmt.Errorf("fence: watchdog timeout %s: want at least 1s", timeout)
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("fence: open watchdog: %w", err)
	}
	w := &Watchdog{f: f}
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
		w.Release(o.keepArmed)
		return nil, fmt.Errorf("fence: set %s timeout to %ds: %w", dev, secs, err)
	}
	got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		w.Release(o.keepArmed)
		return nil, fmt.Errorf("fence: read %s timeout: %w", dev, err)
	}
	w.timeout = time.Duration(got) * time.Second
	return w, nil
}

// OpenOption configures OpenWatchdog.
type OpenOption func(*openOptions)

type openOptions struct{ keepArmed bool }

// KeepArmed leaves a watchdog that cannot be set up armed (closed without the magic character).
func KeepArmed() OpenOption { return func(o *openOptions) { o.keepArmed = true } }

// Release gives the watchdog up: stopped (Disarm) or left armed (Abandon).
func (w *Watchdog) Release(keepArmed bool) {
	if keepArmed {
		_ = w.Abandon()
		return
	}
	_ = w.Disarm()
}

// Timeout is the timeout the driver accepted.
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Pet restarts the watchdog's countdown.
func (w *Watchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if err := unix.IoctlWatchdogKeepalive(int(w.f.Fd())); err != nil {
		return fmt.Errorf("fence: pet watchdog: %w", err)
	}
	return nil
}

// Disarm stops the watchdog with the magic close ('V' then close), for a clean shutdown only:
// after Disarm nothing resets the node.
func (w *Watchdog) Disarm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	_, werr := w.f.Write([]byte("V"))
	cerr := w.f.Close()
	w.f = nil
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("fence: disarm watchdog: %w", err)
	}
	return nil
}

// Abandon closes the device without the magic character: the countdown keeps running (the
// driver's nowayout or its default "expect close" behaviour resets the node when it expires).
func (w *Watchdog) Abandon() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	err := w.f.Close()
	w.f = nil
	return err
}
