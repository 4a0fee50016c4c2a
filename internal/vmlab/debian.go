package vmlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The Debian guests boot the Debian 12 root that scripts/vm/setup-host.sh makes with debootstrap,
// with systemd as PID 1, udev, the mdadm package and its rules, and the project's package
// installed by the root's own dpkg (scripts/vm/build-debian-guest.sh, `make lab-debian`): the
// system users run, where the busybox guests show the kernel alone. The lab agent runs there as
// a systemd service (mdlab-guest.service) speaking the same virtio-serial protocol.

// DebianPaths locates the Debian guests' initramfs and root image in the lab cache.
func DebianPaths(cache string) (initrd, root string, err error) {
	initrd = filepath.Join(cache, "debian", "initrd.cpio.gz")
	root = filepath.Join(cache, "debian", "root.ext4")
	for _, p := range []string{initrd, root} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("vmlab: %w: run `make lab-debian`", err)
		}
	}
	return initrd, root, nil
}

// copyRoots gives each of n guests its own copy of the root image in dir (sparse: a fraction
// of a second each).
func copyRoots(root, dir string, n int) ([]string, error) {
	var out []string
	for i := 1; i <= n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("node%d-root.ext4", i))
		if b, err := exec.Command("cp", "--sparse=always", root, p).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("vmlab: copy the Debian root for node %d: %w: %s", i, err, b)
		}
		out = append(out, p)
	}
	return out, nil
}

// debianCmdline is what a Debian guest adds to the kernel command line: its host name and
// machine id (one image for all), and md's and the DLM's info messages on the console, where
// the host stamps them (an array that starts anywhere, even before the lab agent, shows there).
func debianCmdline(node int) string {
	return fmt.Sprintf(" loglevel=7 systemd.hostname=node%d systemd.machine_id=6d646c61622067756573740000000%03d", node, node)
}

// waitSystemd waits until systemd on a Debian guest has reached multi-user.target (the agent
// has started by then: the unit is Type=notify and wanted by it) and logs how long the boot took
// on the host clock and in systemd's words. It does not wait for every job of the boot: on a node
// that does not hold an exclusive array, its nofail mount waits for the device until
// x-systemd.device-timeout, and systemd says "starting" until then (the jobs are logged).
func (l *Lab) waitSystemd(ctx context.Context, vm *VM, what string) error {
	if err := vm.SetTime(ctx); err != nil {
		return err
	}
	r, err := vm.Run(ctx, `until systemctl is-active -q multi-user.target; do
  systemctl is-failed -q multi-user.target && break
  case $(systemctl is-system-running) in maintenance|stopping|offline) break;; esac; sleep 0.2
done
echo "state $(systemctl is-system-running)"
echo "failed $(systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\n' ' ')"
echo "jobs $(systemctl list-jobs --no-legend --plain 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
echo "analyze $(systemd-analyze 2>/dev/null | head -1)"`)
	if err != nil {
		return fmt.Errorf("node %d: wait for systemd: %w", vm.Node, err)
	}
	field := func(k string) string {
		for _, ln := range Lines(r.Stdout) {
			if v, ok := strings.CutPrefix(ln, k+" "); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	state, failed, jobs, analyze := field("state"), field("failed"), field("jobs"), field("analyze")
	if state != "running" && state != "degraded" && state != "starting" {
		return fmt.Errorf("node %d: systemd says %q after booting\n%s", vm.Node, state, vm.ConsoleTail(30))
	}
	if analyze == "" {
		analyze = "jobs still queued: " + jobs
	}
	l.Logf("node%d: %s Debian (multi-user.target reached, systemd %s%s) %.1fs after QEMU started (host clock); %s", vm.Node, what, state,
		map[bool]string{true: "", false: ", failed units: " + failed}[failed == ""], time.Since(vm.Started).Seconds(), analyze)
	return nil
}

// SetTime sets the guest's wall clock to the host's (to within the request's transit time):
// what NTP does on servers, which the clock check of `mdclusterd doctor` expects.
func (v *VM) SetTime(ctx context.Context) error {
	id, ch, done := v.expect()
	defer done()
	if err := v.send(Request{ID: id, Op: OpSetTime, TimeNS: time.Now().UnixNano()}); err != nil {
		return err
	}
	select {
	case m := <-ch:
		if m.Err != "" {
			return fmt.Errorf("node %d: %s", v.Node, m.Err)
		}
		return nil
	case <-v.exited:
		return fmt.Errorf("node %d: settime: %w", v.Node, ErrVMGone)
	case <-ctx.Done():
		return fmt.Errorf("node %d: settime: %w", v.Node, ctx.Err())
	}
}
