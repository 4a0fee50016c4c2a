package mdcluster

import (
	"context"
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
	// The watchdog resets the node within half the margin after the session stops being
	// trusted, which is a margin before the TTL can run out at the other nodes.
	timeout := a.cfg.Leases.WatchdogMargin.Duration / 2
	if timeout < time.Second {
		timeout = time.Second
	}
	w, err := fence.OpenWatchdog(a.cfg.Leases.Watchdog, timeout)
	if err != nil {
		a.log.Error("self-fencing unavailable", "err", err)
		return nil
	}
	valid := sessionValidity(sess, a.cfg.Leases.TTL.Duration, a.cfg.Leases.WatchdogMargin.Duration)
	f := &fence.Fencer{W: w, Valid: valid, Log: a.log.With("component", "fence"),
		OnLost: func(ctx context.Context) { a.sessionLost(ctx) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if f.Run(ctx) {
			_ = w.Disarm() // clean shutdown
			return
		}
		_ = w.Abandon() // let it fire
	}()
	a.log.Info("self-fencing armed", "watchdog", a.cfg.Leases.Watchdog, "timeout", w.Timeout())
	return done
}

// sessionValidity returns a check that turns false margin before the session can have expired
// at the lock service, judged from the last renewal the engine confirmed.
func sessionValidity(sess dlm.Session, ttl, margin time.Duration) func() bool {
	type renewer interface{ LastRenewal() time.Time }
	r, ok := sess.(renewer)
	return func() bool {
		select {
		case <-sess.Done():
			return false
		default:
		}
		if !ok {
			return true
		}
		return time.Since(r.LastRenewal()) < ttl-margin
	}
}
