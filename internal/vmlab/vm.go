package vmlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrVMGone is returned for requests to a guest whose QEMU has exited.
var ErrVMGone = errors.New("vmlab: guest is not running")

// VMConfig describes one guest.
type VMConfig struct {
	Node   int      // 1..3; sets the guest's private address 192.168.100.Node and its MACs
	Nodes  int      // guests in the lab
	Kernel string   // vmlinuz path
	Initrd string   // initramfs path
	Disks  []string // raw images shared with the other guests
	Hub    string   // private network hub address; empty for none
	// UserNet adds QEMU user networking: the guest reaches the host's 127.0.0.1 at 10.0.2.2.
	UserNet bool
	MemMB   int
	RunDir  string // console log and control socket go here
	Append  string // extra kernel command line
	// Root is the guest's own root image (Debian guests): a disk with serial mdlab-root after
	// the shared ones, which the Debian initramfs mounts before it starts systemd.
	Root string
	// Stream receives the lines of the guest's stream port (StreamPortName); nil: no port.
	Stream StreamFunc
	// Boot numbers the starts of this node in its lab (1, then one more per Restart).
	Boot int
}

// PrivateMAC is the MAC of node n's NIC on the private network.
func PrivateMAC(n int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(n)} }

// VM is one running guest.
type VM struct {
	Node    int
	Boot    int    // VMConfig.Boot
	Console string // path of the serial console log
	// Started is when QEMU was started (host clock).
	Started time.Time

	cmd      *exec.Cmd
	conn     net.Conn
	con      *console
	exited   chan struct{}
	exitedAt time.Time
	waitErr  error

	wmu     sync.Mutex // serialises writes to conn
	mu      sync.Mutex // guards nextID and pending
	nextID  uint64
	pending map[uint64]chan Message
	hello   chan Message
}

// Result is the outcome of one step run in a guest.
type Result struct {
	RC     int
	Stdout string
	Stderr string
	// Uptime is the guest's uptime when the step finished.
	Uptime float64
}

func (c VMConfig) qemuArgs(ctlSock, conSock, strSock string) []string {
	mem := c.MemMB
	if mem == 0 {
		mem = 768
	}
	appendLine := fmt.Sprintf("console=ttyS0 panic=-1 quiet loglevel=4 mdlab.node=%d mdlab.nodes=%d", c.Node, c.Nodes)
	if c.Root != "" {
		mem = max(mem, 1024)
		appendLine += debianCmdline(c.Node)
	}
	if c.UserNet {
		appendLine += " mdlab.user=1"
	}
	if c.Append != "" {
		appendLine += " " + c.Append
	}
	a := []string{
		"-accel", "tcg", "-cpu", "max", "-m", fmt.Sprint(mem), "-smp", "1",
		"-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", appendLine,
		// The console is a socket QEMU waits on, so the host reads every line from the first
		// and stamps it with host time: one clock for all guests' consoles.
		"-chardev", "socket,id=con,path=" + conSock + ",server=on,wait=on",
		"-serial", "chardev:con",
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=ctl,path=" + ctlSock + ",server=on,wait=off",
		"-device", "virtserialport,chardev=ctl,name=" + CtlPortName,
	}
	if c.Stream != nil {
		a = append(a, "-chardev", "socket,id=str,path="+strSock+",server=on,wait=off",
			"-device", "virtserialport,chardev=str,name="+StreamPortName)
	}
	for i, d := range c.Disks {
		// Shared between guests: O_DIRECT on the host, no image locking, share-rw on the device.
		a = append(a,
			"-blockdev", fmt.Sprintf("driver=file,node-name=f%d,filename=%s,cache.direct=on,locking=off", i, d),
			"-blockdev", fmt.Sprintf("driver=raw,node-name=d%d,file=f%d", i, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,share-rw=on,serial=mdlab%d", i, i))
	}
	if c.Root != "" {
		// The guest's own disk: not shared; its flushes need not reach the host's disk (the
		// host does not crash in a test, and a guest crash loses nothing QEMU was given).
		a = append(a,
			"-blockdev", "driver=file,node-name=rootf,filename="+c.Root+",cache.no-flush=on",
			"-blockdev", "driver=raw,node-name=root,file=rootf",
			"-device", "virtio-blk-pci,drive=root,serial=mdlab-root")
	}
	if c.Hub != "" {
		a = append(a, "-netdev", "socket,id=priv,connect="+c.Hub,
			"-device", "virtio-net-pci,netdev=priv,mac="+PrivateMAC(c.Node).String())
	}
	if c.UserNet {
		a = append(a, "-netdev", "user,id=usr,net=10.0.2.0/24,ipv6=off",
			"-device", fmt.Sprintf("virtio-net-pci,netdev=usr,mac=52:54:00:00:01:%02x", c.Node))
	}
	return a
}

func (c VMConfig) consolePath() string {
	return filepath.Join(c.RunDir, fmt.Sprintf("node%d.console.log", c.Node))
}

// StartVM boots a guest and returns once QEMU runs and its control socket is connected; use
// WaitReady to wait for the guest agent.
func StartVM(ctx context.Context, c VMConfig) (*VM, error) {
	// Unix socket paths are limited to 108 bytes: keep the socket in a short temporary dir.
	sockDir, err := os.MkdirTemp("", "mdlab")
	if err != nil {
		return nil, fmt.Errorf("node %d: control socket dir: %w", c.Node, err)
	}
	sock := filepath.Join(sockDir, "ctl")
	conSock := filepath.Join(sockDir, "con")
	strSock := filepath.Join(sockDir, "str")
	cmd := exec.Command("qemu-system-x86_64", c.qemuArgs(sock, conSock, strSock)...)
	cmd.Stdin = nil
	qlog, err := os.Create(filepath.Join(c.RunDir, fmt.Sprintf("node%d.qemu.log", c.Node)))
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", c.Node, err)
	}
	defer qlog.Close()
	cmd.Stdout, cmd.Stderr = qlog, qlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %d: start qemu: %w", c.Node, err)
	}
	v := &VM{Node: c.Node, Boot: c.Boot, Console: c.consolePath(), Started: time.Now(), cmd: cmd, exited: make(chan struct{}),
		pending: map[uint64]chan Message{}, hello: make(chan Message, 1), con: newConsole()}
	go func() {
		v.waitErr = cmd.Wait()
		v.exitedAt = time.Now()
		os.RemoveAll(sockDir)
		close(v.exited)
	}()
	conLog, err := os.Create(c.consolePath())
	if err != nil {
		v.Kill()
		return nil, fmt.Errorf("node %d: console log: %w", c.Node, err)
	}
	socks := []string{conSock, sock}
	if c.Stream != nil {
		socks = append(socks, strSock)
	}
	for _, p := range socks {
		conn, err := v.dial(ctx, p, qlog.Name())
		if err != nil {
			conLog.Close()
			return nil, fmt.Errorf("node %d: %w", c.Node, err)
		}
		switch p {
		case conSock:
			go v.con.read(conn, conLog)
		case sock:
			v.conn = conn
		default:
			go readStream(c.Node, c.Boot, conn, c.Stream)
		}
	}
	go v.readLoop()
	return v, nil
}

// dial connects to one of QEMU's server sockets, waiting for QEMU to create it.
func (v *VM) dial(ctx context.Context, path, qlog string) (net.Conn, error) {
	for {
		conn, err := net.Dial("unix", path)
		if err == nil {
			return conn, nil
		}
		select {
		case <-v.exited:
			out, _ := os.ReadFile(qlog)
			return nil, fmt.Errorf("qemu exited at start (%v): %s", v.waitErr, strings.TrimSpace(string(out)))
		case <-ctx.Done():
			v.Kill()
			return nil, fmt.Errorf("connect %s: %w", filepath.Base(path), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReady waits for the guest agent's hello and returns the guest's kernel release.
func (v *VM) WaitReady(ctx context.Context) (string, error) {
	select {
	case m := <-v.hello:
		return m.Kernel, nil
	case <-v.exited:
		return "", fmt.Errorf("node %d: guest died while booting: %w\n%s", v.Node, ErrVMGone, v.ConsoleTail(30))
	case <-ctx.Done():
		return "", fmt.Errorf("node %d: boot: %w\n%s", v.Node, ctx.Err(), v.ConsoleTail(30))
	}
}

func (v *VM) readLoop() {
	sc := bufio.NewScanner(v.conn)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		var m Message
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue // boot noise before the agent opened the port
		}
		if m.Event == "hello" {
			select {
			case v.hello <- m:
			default:
			}
			continue
		}
		v.mu.Lock()
		ch := v.pending[m.ID]
		delete(v.pending, m.ID)
		v.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// Run runs script with /bin/sh -c in the guest. ctx bounds the step: the guest kills the script
// when the deadline passes, and Run returns an error either way. A non-zero exit code is not an
// error: check Result.RC.
func (v *VM) Run(ctx context.Context, script string, env ...string) (Result, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultExecTimeout)
		defer cancel()
		deadline, _ = ctx.Deadline()
	}
	id, ch, done := v.expect()
	defer done()
	// The guest gives up a little before the host does, so a timeout comes back as a reply.
	guestTimeout := time.Until(deadline) - 500*time.Millisecond
	if guestTimeout < 100*time.Millisecond {
		guestTimeout = 100 * time.Millisecond
	}
	if err := v.send(Request{ID: id, Op: OpExec, Script: script, Env: env, TimeoutMS: guestTimeout.Milliseconds()}); err != nil {
		return Result{RC: -1}, err
	}
	select {
	case m := <-ch:
		r := Result{RC: m.RC, Stdout: m.Stdout, Stderr: m.Stderr, Uptime: m.Uptime}
		if m.Err != "" {
			return r, fmt.Errorf("node %d: %s: %s", v.Node, firstLine(script), m.Err)
		}
		return r, nil
	case <-v.exited:
		return Result{RC: -1}, fmt.Errorf("node %d: %s: %w", v.Node, firstLine(script), ErrVMGone)
	case <-ctx.Done():
		return Result{RC: -1}, fmt.Errorf("node %d: %s: %w", v.Node, firstLine(script), ctx.Err())
	}
}

// Crash panics the guest kernel (sysrq c) and waits until QEMU has exited. Nothing is flushed:
// what md had not written is lost, and bitmaps keep their dirty bits.
func (v *VM) Crash(ctx context.Context) error {
	if err := v.send(Request{Op: OpCrash}); err != nil {
		return err
	}
	select {
	case <-v.exited:
		return nil
	case <-ctx.Done():
		v.Kill()
		return fmt.Errorf("node %d: guest did not die after sysrq c: %w", v.Node, ctx.Err())
	}
}

// Kill ends QEMU with SIGKILL (the host pulls the plug) and waits for it.
func (v *VM) Kill() {
	_ = v.cmd.Process.Kill()
	<-v.exited
}

// Shutdown asks the agent to power the guest off cleanly, and kills it if that takes too long.
func (v *VM) Shutdown(ctx context.Context) error {
	if v.Exited() {
		return nil
	}
	_ = v.send(Request{ID: 0, Op: OpPowerOff})
	select {
	case <-v.exited:
		return nil
	case <-ctx.Done():
		v.Kill()
		return fmt.Errorf("node %d: clean power-off: %w", v.Node, ctx.Err())
	}
}

// Exited reports whether QEMU has exited.
func (v *VM) Exited() bool {
	select {
	case <-v.exited:
		return true
	default:
		return false
	}
}

// Done is closed when QEMU exits.
func (v *VM) Done() <-chan struct{} { return v.exited }

// ConsoleTail returns the last n lines of the guest's serial console.
func (v *VM) ConsoleTail(n int) string {
	lines := v.con.lines()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// ConsoleMatching returns the console lines seen so far that contain substr, with the host time
// each arrived (a guest restarted by Lab.Restart starts a new console).
func (v *VM) ConsoleMatching(substr string) []ConsoleLine {
	var out []ConsoleLine
	for _, l := range v.con.lines() {
		if strings.Contains(l.Text, substr) {
			out = append(out, l)
		}
	}
	return out
}

// WaitConsole waits until a console line containing substr appears (from the start of the
// console) and returns it with the host time it was read.
func (v *VM) WaitConsole(ctx context.Context, substr string) (ConsoleLine, error) {
	return v.con.wait(ctx, substr, v.exited)
}

// ExitedAt is the host time QEMU exited (zero while it runs).
func (v *VM) ExitedAt() time.Time {
	select {
	case <-v.exited:
		return v.exitedAt
	default:
		return time.Time{}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return truncate(s, 80)
}
