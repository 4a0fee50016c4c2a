package vmlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// maxConsoleLines bounds the console lines kept in memory per guest.
const maxConsoleLines = 50000

// ConsoleLine is one line of a guest's serial console with the host time it arrived.
type ConsoleLine struct {
	At   time.Time
	Text string
}

// console collects a guest's serial console, stamping each line with host time, so events on
// different guests can be ordered on one clock.
type console struct {
	mu      sync.Mutex
	all     []ConsoleLine
	changed chan struct{} // closed and replaced on every new line
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

func (c *console) read(r io.ReadCloser, log io.WriteCloser) {
	defer r.Close()
	defer log.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ln := ConsoleLine{At: time.Now(), Text: strings.TrimRight(sc.Text(), "\r")}
		fmt.Fprintf(log, "%s %s\n", ln.At.Format("15:04:05.000"), ln.Text)
		c.mu.Lock()
		if len(c.all) >= maxConsoleLines {
			c.all = c.all[len(c.all)/2:]
		}
		c.all = append(c.all, ln)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *console) lines() []ConsoleLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ConsoleLine(nil), c.all...)
}

func (c *console) wait(ctx context.Context, substr string, exited <-chan struct{}) (ConsoleLine, error) {
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.all); seen++ {
			if strings.Contains(c.all[seen].Text, substr) {
				ln := c.all[seen]
				c.mu.Unlock()
				return ln, nil
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-exited:
			// Give the reader a moment to drain what the guest printed last.
			select {
			case <-ch:
			case <-time.After(200 * time.Millisecond):
				return ConsoleLine{}, fmt.Errorf("console never showed %q: %w", substr, ErrVMGone)
			}
		case <-ctx.Done():
			return ConsoleLine{}, fmt.Errorf("console never showed %q: %w", substr, ctx.Err())
		}
	}
}

// ConsoleLines returns the guest's console lines the host read after since (all of them for the
// zero time).
func (v *VM) ConsoleLines(since time.Time) []ConsoleLine {
	var out []ConsoleLine
	for _, l := range v.con.lines() {
		if l.At.After(since) {
			out = append(out, l)
		}
	}
	return out
}
