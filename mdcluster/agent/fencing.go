package agent

import (
	"context"
	"os"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/fence"
)

// startFencer opens the watchdog (when configured) and pets it while sess is valid. It returns
// a channel closed when the fencer stops, or nil when self-fencing is off.
func (a *Agent) startFencer(ctx context.Context, sess dlm.Session) <-chan struct{} {
	if a.cfg.Leases.Watchdog == "" {
		return nil
	}
	ttl, margin := a.cfg.Leases.TTL.Duration, a.cfg.Leases.WatchdogMargin.Duration
	timeout := watchdogTimeout(margin)
	w, err := fence.OpenWatchdog(a.cfg.Leases.Watchdog, timeout)
	if err != nil {
		a.log.Error("self-fencing unavailable", "err", err)
		return nil
	}
	f := &fence.Fencer{W: w, Valid: sessionValidity(sess, margin), Log: a.log.With("component", "fence"),
		OnLost: func(ctx context.Context) { a.sessionLost(ctx) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if f.Run(ctx) {
			// A clean stop disarms the watchdog, unless kernel DLM lockspaces (md-cluster
			// arrays) are still in use: peers will recover this node's slots once its lease
			// expires, so it must not keep writing. dlm_controld refuses to exit then; the
			// agent leaves the watchdog to reset the node.
			if ls := lockspacesInUse("/sys/kernel/dlm"); len(ls) > 0 {
				a.log.Error("stopping with DLM lockspaces in use: the watchdog stays armed and will reset this node; stop the clustered arrays first",
					"lockspaces", ls)
				_ = w.Abandon()
				return
			}
			_ = w.Disarm()
			return
		}
		_ = w.Abandon() // let it fire
	}()
	a.log.Info("self-fencing armed", "watchdog", a.cfg.Leases.Watchdog, "timeout", w.Timeout(), "ttl", ttl, "margin", margin)
	return done
}

// watchdogTimeout is the watchdog timeout for a margin: the node stops petting margin before its
// lease can expire at the lock service and is reset within 1.25 timeouts (a pet period is a
// quarter timeout), so the timeout is at most margin/1.5, in whole seconds, at least 1 s.
func watchdogTimeout(margin time.Duration) time.Duration {
	t := (margin * 2 / 3).Truncate(time.Second)
	if t < time.Second {
		t = time.Second
	}
	return t
}

// sessionValidity returns a check that turns false margin before the session can have expired
// at the lock service. Engines that know the deadline their last renewal earned (Deadline) are
// judged by it; otherwise by Done, which the etcd engine closes a fifth of the TTL early.
func sessionValidity(sess dlm.Session, margin time.Duration) func() bool {
	type deadliner interface{ Deadline() time.Time }
	d, ok := sess.(deadliner)
	return func() bool {
		select {
		case <-sess.Done():
			return false
		default:
		}
		return !ok || time.Until(d.Deadline()) > margin
	}
}

// lockspacesInUse lists the kernel DLM lockspaces under dir (/sys/kernel/dlm).
func lockspacesInUse(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
