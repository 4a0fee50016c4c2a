package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
	"mdcluster.dev/mdcluster/md"
)

func TestExecMdadm(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "mdadm")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\"\n[ \"$1\" = ok ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := execMdadm{Path: script}
	if out, err := m.Run(t.Context(), "ok", "x"); err != nil || strings.TrimSpace(string(out)) != "ok x" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := m.Run(t.Context(), "--assemble"); err == nil || !strings.Contains(err.Error(), "--assemble") {
		t.Fatalf("a failing mdadm: %v", err)
	}
}

func TestLockspaces(t *testing.T) {
	p := Paths{Sys: t.TempDir()}
	if ls, err := p.lockspaces(); err != nil || ls != nil {
		t.Fatalf("no DLM: %v %v", ls, err)
	}
	if err := os.MkdirAll(filepath.Join(p.Sys, "kernel", "dlm", "10d42f6e-5047-0313-e014-6ae7b4d871b2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ls, err := p.lockspaces(); err != nil || len(ls) != 1 {
		t.Fatalf("lockspaces %v %v", ls, err)
	}
	if DefaultPaths().sessionFile() != "/run/mdcluster/session" {
		t.Fatal(DefaultPaths().sessionFile())
	}
}

func TestSysrqReset(t *testing.T) {
	f := filepath.Join(t.TempDir(), "sysrq-trigger")
	if err := os.WriteFile(f, nil, 0o200); err != nil {
		t.Fatal(err)
	}
	if err := sysrqReset(f)(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "b" {
		t.Fatalf("wrote %q", b)
	}
	if err := sysrqReset(filepath.Join(t.TempDir(), "none"))(); err == nil {
		t.Fatal("no error for a missing trigger")
	}
}

// Exclusive arrays need a watchdog that opens: a missing device says why, in one line.
func TestOpenWatchdogUnavailable(t *testing.T) {
	if w, why := openWatchdog("", 15*time.Second, 5*time.Second, time.Second, time.Second, 0, false); w != nil || !strings.Contains(why, "leases.watchdog") {
		t.Fatalf("%v %q", w, why)
	}
	if w, why := openWatchdog(filepath.Join(t.TempDir(), "watchdog"), 15*time.Second, 5*time.Second, time.Second, time.Second, 2*time.Second, false); w != nil || why == "" || strings.Contains(why, "\n") {
		t.Fatalf("%v %q", w, why)
	}
}

func TestNeedsFencing(t *testing.T) {
	c := &config.Config{}
	if needsFencing(c) {
		t.Fatal("nothing to fence")
	}
	c.Arrays = []config.Array{raid10}
	if needsFencing(c) {
		t.Fatal("a clustered array without the DLM control plane")
	}
	c.DLMControl.Mode, c.Leases.Watchdog = config.ControlMdclusterd, "/dev/watchdog"
	if !needsFencing(c) {
		t.Fatal("the DLM control plane needs fencing")
	}
	c.DLMControl.Mode = config.ControlOff
	c.Arrays = append(c.Arrays, raid5)
	if !needsFencing(c) {
		t.Fatal("an exclusive array needs fencing")
	}
}

// Alive reports a stuck loop or pass, so that systemd's watchdog restarts the agent.
func TestAlive(t *testing.T) {
	a := &Agent{}
	if err := a.Alive(); err != nil {
		t.Fatal(err)
	}
	a.health.tick()
	a.health.begin(1)
	if err := a.Alive(); err != nil {
		t.Fatal(err)
	}
	a.health.busy[1] = time.Now().Add(-assembleTimeout - time.Minute)
	if err := a.Alive(); err == nil || !strings.Contains(err.Error(), "reconcile pass") {
		t.Fatalf("a stuck pass: %v", err)
	}
	a.health.end(1)
	a.health.lastTick = time.Now().Add(-time.Minute)
	if err := a.Alive(); err == nil || !strings.Contains(err.Error(), "periodic loop") {
		t.Fatalf("a stuck loop: %v", err)
	}
}

type eventsFeed struct{ evs []md.Event }

func (f *eventsFeed) Next(ctx context.Context) (md.Event, error) {
	if len(f.evs) == 0 {
		return nil, context.Canceled
	}
	e := f.evs[0]
	f.evs = f.evs[1:]
	return e, nil
}

// Uevents from the capture of a clustered array's life: every md event asks for a pass; a
// new-disk request that cannot be answered (no such md device here) is logged, not fatal.
func TestReadUevents(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	raw, err := os.ReadFile(filepath.Join("..", "md", "testdata", "uevents", "md-lifecycle.txt"))
	if err != nil {
		t.Fatal(err)
	}
	feed := &eventsFeed{}
	for _, ln := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var b []byte
		if s, err := strconv.Unquote(ln); err == nil {
			b = []byte(s)
		}
		env, err := md.ParseUevent(b)
		if err != nil {
			continue
		}
		if ev, ok, _ := md.DecodeUevent(env); ok {
			feed.evs = append(feed.evs, ev)
		}
	}
	feed.evs = append(feed.evs, &md.NewDiskEvent{Array: "md0", RaidDisk: 2}, &md.LockspaceEvent{Action: "online", Lockspace: "x"})
	n := len(feed.evs)
	a.readUevents(context.Background(), feed)
	if n < 3 {
		t.Fatalf("only %d events", n)
	}
	if got := a.rec.Counters().NewDiskNacked + a.rec.Counters().NewDiskConfirmed; got != 0 {
		t.Fatalf("a request for an md device that is not here was answered: %d", got)
	}
	_ = errors.New
}

// roundingWatchdog is a driver that accepts a timeout other than the one asked for (drivers
// round to their granularity; some have a fixed one).
type roundingWatchdog struct {
	fakeWatchdog
	timeout  time.Duration
	released []bool
}

func (w *roundingWatchdog) Timeout() time.Duration { return w.timeout }
func (w *roundingWatchdog) Release(keepArmed bool) { w.released = append(w.released, keepArmed) }

// The timeout the driver accepted is what counts: one that does not fit the margin and TTL
// means no self-fencing (the watchdog is given back, left armed only for a predecessor's
// session); one that fits is used. With a predecessor's timeout, the driver is never asked for
// a longer one (setting it restarts the countdown: a longer one would move the reset of the
// node the recorded session still protects past its fence point).
func TestOpenWatchdogAcceptedTimeout(t *testing.T) {
	defer func(o func(string, time.Duration, ...fence.OpenOption) (watchdogDevice, error)) { openDevice = o }(openDevice)
	const ttl, margin = 15 * time.Second, 5 * time.Second
	want := fence.WatchdogTimeout(ttl, margin) // 2s
	for _, tc := range []struct {
		prev, asked, accepted time.Duration
		ok                    bool
	}{
		{0, want, 2 * time.Second, true},
		{0, want, time.Second, true},
		{time.Second, time.Second, time.Second, true}, // never lengthened past the predecessor's
		{3 * time.Second, want, 2 * time.Second, true},
		{0, want, 3 * time.Second, false},               // 5s + 3×3s is past TTL − renew − retry
		{2 * time.Second, want, 5 * time.Second, false}, // not below the margin
		{2 * time.Second, want, 30 * time.Second, false},
	} {
		d := &roundingWatchdog{timeout: tc.accepted}
		var asked time.Duration
		openDevice = func(_ string, to time.Duration, _ ...fence.OpenOption) (watchdogDevice, error) {
			asked = to
			return d, nil
		}
		w, why := openWatchdog("/dev/watchdog", ttl, margin, ttl/dlm.RenewDivisor, ttl/dlm.RetryDivisor, tc.prev, false)
		if asked != tc.asked {
			t.Fatalf("prev %s: asked the driver for %s, want %s", tc.prev, asked, tc.asked)
		}
		if tc.ok {
			if w == nil || why != "" || len(d.released) != 0 {
				t.Fatalf("accepted %s: watchdog %v, why %q, released %v", tc.accepted, w, why, d.released)
			}
			continue
		}
		if w != nil || !strings.Contains(why, "accepted a "+tc.accepted.String()+" timeout") || strings.Contains(why, "\n") {
			t.Fatalf("accepted %s: watchdog %v, why %q", tc.accepted, w, why)
		}
		if armed := tc.prev > 0; len(d.released) != 1 || d.released[0] != armed {
			t.Fatalf("accepted %s: released %v, want once with keep-armed %v", tc.accepted, d.released, armed)
		}
	}
}
