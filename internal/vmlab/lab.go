package vmlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options describe a lab: how many guests and which shared disks they get.
type Options struct {
	Nodes    int   // 1..3
	Disks    int   // shared raw images, each DiskSize bytes (sparse)
	DiskSize int64 // default 256 MiB
	// UserNet gives every guest QEMU user networking (host loopback at 10.0.2.2).
	UserNet bool
	// Append is added to every guest's kernel command line.
	Append string
	// Log receives one line per lab event and step; nil discards.
	Log io.Writer
	// BootTimeout bounds each guest's boot (default 3 minutes).
	BootTimeout time.Duration
	// Debian boots the Debian guests (debian.go) instead of the busybox initramfs: systemd as
	// PID 1, udev and mdadm's rules, the package installed. Each guest gets its own copy of the
	// root image, which a restart keeps: the node reboots with what it wrote.
	Debian bool
	// Stream, if set, gives every guest a stream port (StreamPortName) and receives its lines.
	Stream StreamFunc
}

// Lab is a set of running guests sharing disks and a private network.
type Lab struct {
	Dir   string // run directory: disk images and logs
	Disks []string
	VMs   []*VM
	Hub   *Hub

	opts   Options
	kernel string
	initrd string
	roots  []string // each guest's root image (Debian guests)
	start  time.Time
	logMu  sync.Mutex
}

// Paths locates the lab's kernel and initramfs. The cache directory is $MDCLUSTER_LAB, or .lab
// at the module root (see scripts/vm/setup-host.sh and build-initramfs.sh).
func Paths() (dir, kernel, initrd string, err error) {
	dir = os.Getenv("MDCLUSTER_LAB")
	if dir == "" {
		root, rerr := moduleRoot()
		if rerr != nil {
			return "", "", "", rerr
		}
		dir = filepath.Join(root, ".lab")
	}
	kernels, _ := filepath.Glob(filepath.Join(dir, "kroot/boot/vmlinuz-*"))
	if len(kernels) == 0 {
		return dir, "", "", fmt.Errorf("vmlab: no kernel under %s/kroot/boot: run `make lab`", dir)
	}
	initrd = filepath.Join(dir, "initramfs.cpio.gz")
	if _, err := os.Stat(initrd); err != nil {
		return dir, "", "", fmt.Errorf("vmlab: %w: run `make lab`", err)
	}
	return dir, kernels[0], initrd, nil
}

func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("vmlab: no go.mod above the working directory; set MDCLUSTER_LAB")
		}
	}
}

// Start creates the disk images and the hub, boots every guest in parallel and waits until all
// agents answer. On error everything started is torn down.
func Start(ctx context.Context, name string, o Options) (*Lab, error) {
	if o.Nodes < 1 || o.Nodes > 3 {
		return nil, fmt.Errorf("vmlab: Nodes %d: want 1 to 3", o.Nodes)
	}
	if o.DiskSize == 0 {
		o.DiskSize = 256 << 20
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 3 * time.Minute
	}
	cache, kernel, initrd, err := Paths()
	if err != nil {
		return nil, err
	}
	var root string
	if o.Debian {
		if initrd, root, err = DebianPaths(cache); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(cache, "run"), 0o755); err != nil {
		return nil, fmt.Errorf("vmlab: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Join(cache, "run"), strings.ReplaceAll(name, "/", "_")+"-")
	if err != nil {
		return nil, fmt.Errorf("vmlab: run dir: %w", err)
	}
	l := &Lab{Dir: dir, opts: o, kernel: kernel, initrd: initrd, start: time.Now()}
	if root != "" {
		if l.roots, err = copyRoots(root, dir, o.Nodes); err != nil {
			return nil, err
		}
	}
	for i := 0; i < o.Disks; i++ {
		p := filepath.Join(dir, fmt.Sprintf("disk%d.img", i))
		if err := makeSparse(p, o.DiskSize); err != nil {
			return nil, err
		}
		l.Disks = append(l.Disks, p)
	}
	if o.Nodes > 1 {
		if l.Hub, err = NewHub(); err != nil {
			return nil, err
		}
	}
	l.Logf("lab %s: %d guest(s), %d shared disk(s), run dir %s", name, o.Nodes, o.Disks, dir)
	l.VMs = make([]*VM, o.Nodes)
	bootCtx, cancel := context.WithTimeout(ctx, o.BootTimeout)
	defer cancel()
	errs := make([]error, o.Nodes)
	var wg sync.WaitGroup
	for i := range l.VMs {
		vm, err := StartVM(bootCtx, l.vmConfig(i+1, 1))
		if err != nil {
			l.Close()
			return nil, err
		}
		l.VMs[i] = vm
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = l.waitBooted(bootCtx, l.VMs[i], "booted")
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// vmConfig is guest n's configuration: the lab's files, disks and network.
func (l *Lab) vmConfig(n, boot int) VMConfig {
	cfg := VMConfig{Node: n, Nodes: l.opts.Nodes, Kernel: l.kernel, Initrd: l.initrd, Disks: l.Disks,
		UserNet: l.opts.UserNet, RunDir: l.Dir, Append: l.opts.Append, Stream: l.opts.Stream, Boot: boot}
	if l.roots != nil {
		cfg.Root = l.roots[n-1]
	}
	if l.Hub != nil {
		cfg.Hub = l.Hub.Addr()
	}
	return cfg
}

// waitBooted waits for the guest's lab agent, and on a Debian guest for systemd to finish
// booting, and logs the boot.
func (l *Lab) waitBooted(ctx context.Context, vm *VM, what string) error {
	kr, err := vm.WaitReady(ctx)
	if err != nil {
		return err
	}
	if l.roots == nil {
		l.Logf("node%d: %s kernel %s", vm.Node, what, kr)
		return nil
	}
	return l.waitSystemd(ctx, vm, what)
}

func makeSparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vmlab: create disk image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("vmlab: size disk image %s: %w", path, err)
	}
	return f.Close()
}

// Node returns guest n (1-based).
func (l *Lab) Node(n int) *VM { return l.VMs[n-1] }

// Logf writes one timestamped line (seconds since the lab started) to Options.Log.
func (l *Lab) Logf(format string, a ...any) {
	if l.opts.Log == nil {
		return
	}
	l.logMu.Lock()
	defer l.logMu.Unlock()
	fmt.Fprintf(l.opts.Log, "[%7.2fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, a...))
}

// Step runs script on node n with a timeout, logs it, and returns an error when the step fails to
// run, times out, or exits non-zero (the error carries the output).
func (l *Lab) Step(ctx context.Context, n int, timeout time.Duration, what, script string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	r, err := l.Node(n).Run(ctx, script)
	took := time.Since(t0).Seconds()
	if err == nil && r.RC != 0 {
		err = fmt.Errorf("node %d: %s: exit %d\nstdout:\n%s\nstderr:\n%s", n, what, r.RC, r.Stdout, r.Stderr)
	}
	if err != nil {
		l.Logf("node%d: %s FAILED after %.1fs: %v", n, what, took, err)
		return r, err
	}
	l.Logf("node%d: %s (%.1fs)", n, what, took)
	return r, nil
}

// Close powers every guest off (killing those that do not stop within 20 s), stops the hub, and
// removes the run directory unless MDCLUSTER_LAB_KEEP is set.
func (l *Lab) Close() {
	var wg sync.WaitGroup
	for _, vm := range l.VMs {
		if vm == nil {
			continue
		}
		wg.Add(1)
		go func(vm *VM) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = vm.Shutdown(ctx)
		}(vm)
	}
	wg.Wait()
	if l.Hub != nil {
		l.Hub.Close()
	}
	if os.Getenv("MDCLUSTER_LAB_KEEP") == "" {
		os.RemoveAll(l.Dir)
	}
}

// KeepLogs copies every guest's console log to dir (for CI artefacts after a failure).
func (l *Lab) KeepLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(l.Dir, "*.log"))
	for _, p := range logs {
		if b, err := os.ReadFile(p); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
		}
	}
}

// Lines splits command output into trimmed non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" {
			out = append(out, ln)
		}
	}
	return out
}
