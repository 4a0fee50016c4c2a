package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
)

// Watchdog is the self-fencing device (fence.Watchdog; tests use a fake).
type Watchdog interface {
	Pet() error
	Timeout() time.Duration
	Disarm() error
}

// guard pets the watchdog while the node's session may be trusted and acts at the session's
// fence point (fence.FencePoint: D−M−3T): from then on the agent treats the session as lost,
// stops its exclusive arrays, and forces a reset if anything may still write. It runs in its
// own goroutine, takes no mutex the passes take and never calls the lock service, so nothing
// it must do can wait behind an etcd call.
type guard struct {
	w        Watchdog // nil: no watchdog configured (nothing here needs fencing)
	margin   time.Duration
	sessions *sessionManager
	// onLost stops I/O after the session was lost and reports whether the node must still be
	// reset (an array it could not stop, DLM lockspaces in use, a failed read), and why.
	onLost func(*session) (bool, string)
	// reset forces an immediate reset (sysrq b).
	reset func() error
	log   *slog.Logger

	fenced atomic.Bool // the node is being reset: never pet again
	lostMu sync.Mutex  // one run of the session-lost steps at a time
	// stopPets ends petting for good (a clean stop hands the device over to its successor or
	// disarms it).
	stopPets chan struct{}
	done     chan struct{}
}

func (g *guard) timeout() time.Duration {
	if g.w == nil {
		return 0
	}
	return g.w.Timeout()
}

// previousTimeout is the longer of this process's watchdog timeout and the one the previous
// process recorded: the previous session's fence point must hold for both.
func (g *guard) previousTimeout() time.Duration {
	return max(g.timeout(), time.Duration(g.sessions.recordedTimeout.Load()))
}

// period is how often the guard pets and checks.
func (g *guard) period() time.Duration {
	p := 250 * time.Millisecond
	if t := g.timeout(); t > 0 && t/4 < p {
		p = t / 4
	}
	return p
}

// trusted reports whether the session may still be acted on at now, from its deadline. An
// engine without a deadline (the kernel DLM) is trusted until it ends its session.
func (g *guard) trusted(s *session, now time.Time) bool {
	select {
	case <-s.Done():
		return false
	default:
	}
	d, ok := s.deadline()
	return !ok || fence.PetAllowed(now, d, g.margin, g.timeout())
}

// run is the guard's loop; it returns when petting stops for good.
func (g *guard) run() {
	defer close(g.done)
	t := time.NewTicker(g.period())
	defer t.Stop()
	for {
		if !g.check(time.Now()) {
			return
		}
		select {
		case <-g.stopPets:
			return
		case <-t.C:
		}
	}
}

// check looks at the session once and pets if it may; it returns false once fenced.
func (g *guard) check(now time.Time) bool {
	s := g.sessions.cur.Load()
	if s != nil && !s.fenceHandled.Load() {
		if s.valid() && g.trusted(s, now) {
			g.sessions.record(s)
		} else {
			s.fenceHandled.Store(true)
			s.markLost()
			g.log.Error("session lost: no renewal before its fence point; no longer acting on it",
				"watchdog_timeout", g.timeout(), "margin", g.margin)
			goOn := g.lost(s)
			close(s.decided)
			if !goOn {
				return false
			}
		}
	} else if d := g.sessions.recorded.Load(); d != nil && !fence.PetAllowed(now, *d, g.margin, g.previousTimeout()) {
		// The previous process's session could not be resumed in time: whatever it ran must
		// stop before its lease can expire.
		g.log.Error("the previous process's session reached its fence point before it could be resumed")
		g.sessions.recorded.Store(nil)
		if !g.lost(nil) {
			return false
		}
	}
	if g.w != nil {
		if err := g.w.Pet(); err != nil {
			g.log.Error("pet watchdog", "err", err)
		}
	}
	return true
}

// lost runs the session-lost steps; it returns false when the node is being reset.
func (g *guard) lost(s *session) bool {
	g.lostMu.Lock()
	defer g.lostMu.Unlock()
	if g.fenced.Load() {
		return false
	}
	must, why := g.onLost(s)
	if !must {
		g.log.Warn("session lost with nothing left to protect: no reset; a new session will be opened")
		return true
	}
	g.fenced.Store(true)
	g.log.Error("session lost and this node may still write: resetting it now (the watchdog fires within its timeout otherwise)", "why", why)
	if err := g.reset(); err != nil {
		g.log.Error("forced reset failed; the watchdog resets the node", "err", err)
	}
	return false
}

// previousGone runs the session-lost steps for the previous process's session, found gone.
func (g *guard) previousGone() bool {
	g.sessions.recorded.Store(nil)
	return g.lost(nil)
}

// finish ends petting at a clean stop. With disarm the watchdog is stopped for good (nothing is
// protected any more); otherwise it is petted once more and left armed: the device closes with
// the process, the kernel pings it once more, and a restarted agent must take over within its
// timeout or the node is reset.
func (g *guard) finish(disarm bool) {
	close(g.stopPets)
	<-g.done
	if g.w == nil || g.fenced.Load() {
		return
	}
	if disarm {
		if err := g.w.Disarm(); err != nil {
			g.log.Error("disarm watchdog", "err", err)
		}
		return
	}
	if s := g.sessions.cur.Load(); s != nil && g.trusted(s, time.Now()) {
		_ = g.w.Pet()
	}
}

// sysrqReset resets the machine at once through /proc/sysrq-trigger (works whatever
// kernel.sysrq says).
func sysrqReset(path string) func() error {
	return func() error {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte("b"))
		return err
	}
}

// openWatchdog opens the configured watchdog with the timeout the margin calls for and checks
// that the driver accepted a timeout that keeps the fencing arithmetic sound. It returns why
// self-fencing is unavailable when it is.
//
// prev is the timeout a previous process of this boot had the driver accept for a session it
// recorded (0: none). That process's node may still run under it, so this one never lengthens it
// (setting a timeout restarts the countdown with the new value: a longer one would move the
// reset past what the recorded session's fence point allows), and a watchdog that cannot be set
// up is left armed rather than stopped.
//
// keepArmed: a previous process may have left the watchdog armed over something that still
// runs without a recorded session (a start that failed before its session, with an exclusive
// array or a DLM lockspace in use): a failed set-up leaves it armed too.
func openWatchdog(dev string, ttl, margin, renew, retry, prev time.Duration, keepArmed bool) (watchdogDevice, string) {
	if dev == "" {
		return nil, "leases.watchdog is not set"
	}
	want := fence.WatchdogTimeout(ttl, margin)
	if want < time.Second {
		return nil, fmt.Sprintf("no watchdog timeout fits leases.watchdog_margin %s and leases.ttl %s", margin, ttl)
	}
	armed := prev > 0 || keepArmed
	if prev > 0 && prev < want {
		want = prev
	}
	var opts []fence.OpenOption
	if armed {
		opts = append(opts, fence.KeepArmed())
	}
	w, err := openDevice(dev, want, opts...)
	if err != nil {
		why := err.Error()
		if errors.Is(err, os.ErrExist) || strings.Contains(why, "device or resource busy") {
			why += " (held by systemd's RuntimeWatchdogSec= or a watchdog daemon?)"
		}
		return nil, why
	}
	t := w.Timeout()
	if t >= margin || !fence.Healthy(ttl, renew, retry, margin, t) {
		w.Release(armed)
		return nil, fmt.Sprintf("%s accepted a %s timeout, which does not fit leases.watchdog_margin %s and leases.ttl %s", dev, t, margin, ttl)
	}
	return w, ""
}

// watchdogDevice is an opened watchdog: fence.Watchdog, or a driver's stand-in in tests.
type watchdogDevice interface {
	Watchdog
	Release(keepArmed bool)
}

// openDevice opens the watchdog device; tests replace it with a driver that rounds timeouts.
var openDevice = func(dev string, timeout time.Duration, opts ...fence.OpenOption) (watchdogDevice, error) {
	return fence.OpenWatchdog(dev, timeout, opts...)
}

// waitIdle waits until no pass runs mdadm, at most for d.
func waitIdle(inflight *atomic.Int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

var _ = context.Background

// needsFencing reports whether this node can run something that must stop before its lease
// expires: an exclusive array, or md-cluster arrays whose DLM this agent runs.
func needsFencing(cfg *config.Config) bool {
	if cfg.DLMControl.Mode == config.ControlMdclusterd && cfg.Leases.Watchdog != "" {
		return true
	}
	for _, a := range cfg.Arrays {
		if a.Mode == config.ModeExclusive {
			return true
		}
	}
	return false
}
