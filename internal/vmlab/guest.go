package vmlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxOutput bounds what one exec returns per stream; the rest is cut with a marker.
const maxOutput = 512 << 10

// defaultExecTimeout applies when a request carries no timeout.
const defaultExecTimeout = 5 * time.Minute

// Guest is the lab agent that runs inside a guest: it reads Requests from conn and answers each
// with a Message. Requests run concurrently, so the host may start a long step and still talk to
// the guest.
type Guest struct {
	Node int
	conn io.ReadWriter
	wmu  sync.Mutex
	wg   sync.WaitGroup
}

// NewGuest returns an agent speaking over conn (the guest's end of the virtio-serial port).
func NewGuest(node int, conn io.ReadWriter) *Guest { return &Guest{Node: node, conn: conn} }

// Serve sends a hello event, then serves requests until the host asks for power-off or conn fails.
// It also returns when ctx ends (SIGTERM): the read of the port does not, and systemd's last
// step of a Debian guest's shutdown waited 90 s for this process to exit on SIGTERM before it
// killed it (a 90-s poweroff after everything else had stopped).
func (g *Guest) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return nil
	}
}

func (g *Guest) serve(ctx context.Context) error {
	g.send(Message{Event: "hello", Node: g.Node, Kernel: kernelRelease()})
	sc := bufio.NewScanner(g.conn)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			g.send(Message{Event: "error", RC: -1, Err: fmt.Sprintf("bad request line %q: %v", truncate(sc.Text(), 200), err)})
			continue
		}
		switch req.Op {
		case OpExec:
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				g.send(g.exec(ctx, req))
			}()
		case OpCrash:
			// No reply: the kernel is gone before it could be read.
			_ = os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
			return errors.New("crash requested but the kernel survived sysrq c")
		case OpSetTime:
			ts := unix.NsecToTimespec(req.TimeNS)
			m := Message{ID: req.ID}
			if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
				m.RC, m.Err = -1, "settime: "+err.Error()
			}
			g.send(m)
		case OpPowerOff:
			g.wg.Wait()
			g.send(Message{ID: req.ID})
			return nil
		default:
			g.send(Message{ID: req.ID, RC: -1, Err: fmt.Sprintf("unknown op %q", req.Op)})
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read control port: %w", err)
	}
	return io.EOF
}

func (g *Guest) exec(ctx context.Context, req Request) Message {
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultExecTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.Command("/bin/sh", "-c", req.Script)
	cmd.Env = append(os.Environ(), req.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr capped
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return Message{ID: req.ID, RC: -1, Err: fmt.Sprintf("start: %v", err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	timedOut := false
	select {
	case werr = <-done:
	case <-ctx.Done():
		timedOut = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr = <-done
	}
	m := Message{ID: req.ID, RC: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
	if timedOut {
		m.RC = -1
		m.Err = fmt.Sprintf("timed out after %s", timeout)
	} else if werr != nil && !errors.As(werr, new(*exec.ExitError)) {
		m.Err = werr.Error()
	}
	return m
}

func (g *Guest) send(m Message) {
	m.Uptime = uptime()
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(Message{ID: m.ID, RC: -1, Err: "encode reply: " + err.Error()})
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	_, _ = g.conn.Write(append(b, '\n'))
}

// capped is a bytes.Buffer that keeps at most maxOutput bytes.
type capped struct {
	bytes.Buffer
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); room < len(p) {
		if room > 0 {
			c.Buffer.Write(p[:room])
		}
		c.cut = true
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

func (c *capped) String() string {
	if c.cut {
		return c.Buffer.String() + "\n[output cut]\n"
	}
	return c.Buffer.String()
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// CmdlineNode is the node id the host put on the kernel command line (mdlab.node=N), 0 if none.
func CmdlineNode() int {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "mdlab.node="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// OpenPort opens the guest's end of the virtio-serial port, waiting (up to a minute) for udev to
// make its device link: under systemd the lab agent may start before that.
func OpenPort(ctx context.Context, path string) (*os.File, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
