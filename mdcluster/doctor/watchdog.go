package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
)

// watchdog checks the device the agent pets. Opening a watchdog arms it, so the device is
// opened only when no process holds it, it is not already counting down (an agent that stopped
// with something to protect leaves it so), and its driver lets a magic close stop it again
// (nowayout off); a driver with nowayout is reported, never opened: the agent's clean stop
// could not disarm it either, and the node would be reset after every clean stop.
func (h Host) watchdog(cfg *config.Config) WatchdogFact {
	dev := cfg.Leases.Watchdog
	wf := WatchdogFact{Device: dev}
	if dev == "" {
		return wf
	}
	wf.Want = Duration{fence.WatchdogTimeout(cfg.Leases.TTL.Duration, cfg.Leases.WatchdogMargin.Duration)}
	if _, err := os.Stat(h.path(dev)); err != nil {
		wf.Err = "no such device"
		return wf
	}
	sys := h.path("sys/class/watchdog/" + watchdogName(dev))
	wf.Identity = readTrim(filepath.Join(sys, "identity"))
	wf.NoWayOut = readTrim(filepath.Join(sys, "nowayout")) == "1"
	if holder := h.holder(dev); holder != "" {
		wf.HeldBy = holder
		if t, err := strconv.Atoi(readTrim(filepath.Join(sys, "timeout"))); err == nil {
			wf.Accepted = Duration{time.Duration(t) * time.Second}
		}
		return wf
	}
	if wf.NoWayOut {
		return wf
	}
	// Armed with nobody holding it: an agent stopped while something here could still write,
	// and the watchdog must reset the node unless an agent takes over. Opening it would ping
	// it, and the magic close would disarm that reset: never touch it then.
	if readTrim(filepath.Join(sys, "state")) == "active" {
		wf.Armed = true
		return wf
	}
	got, err := h.TryWatchdog(h.path(dev), wf.Want.Duration)
	if err != nil {
		wf.Err = err.Error()
		return wf
	}
	wf.Accepted = Duration{got}
	return wf
}

// watchdogName is the sysfs name of a watchdog device: /dev/watchdog is the first one's
// legacy node.
func watchdogName(dev string) string {
	b := filepath.Base(dev)
	if b == "watchdog" {
		return "watchdog0"
	}
	return b
}

func tryWatchdog(dev string, timeout time.Duration) (time.Duration, error) {
	w, err := fence.OpenWatchdog(dev, timeout)
	if err != nil {
		return 0, err
	}
	got := w.Timeout()
	if err := w.Disarm(); err != nil {
		return got, fmt.Errorf("%w: the watchdog stays armed and resets this node in %s", err, got)
	}
	return got, nil
}

// holder names the process that has dev open ("mdclusterd (pid 412)"), or "". The first
// watchdog has two nodes (/dev/watchdog and /dev/watchdog0) and one opener at a time: either
// counts (systemd's RuntimeWatchdogSec= opens /dev/watchdog0).
func (h Host) holder(dev string) string {
	want := map[string]bool{}
	for _, d := range []string{dev, "/dev/" + watchdogName(dev)} {
		if t, err := filepath.EvalSymlinks(h.path(d)); err == nil {
			want[t] = true
		}
	}
	procs, _ := filepath.Glob(h.path("proc/[0-9]*"))
	for _, p := range procs {
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		for _, fd := range fds {
			t, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !want[h.path(t)] {
				continue
			}
			return fmt.Sprintf("%s (pid %s)", readTrim(filepath.Join(p, "comm")), filepath.Base(p))
		}
	}
	return ""
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
