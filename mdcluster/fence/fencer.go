package fence

import (
	"context"
	"log/slog"
	"time"
)

// Petter is what a Fencer keeps alive: a Watchdog, or a fake in tests.
type Petter interface {
	Pet() error
	Timeout() time.Duration
}

// Fencer pets a watchdog while the node's session is valid and stops when it is not, so the
// watchdog resets the node. Valid reports whether the session may still be trusted: it must turn
// false at least Timeout before the session's TTL can run out at the other nodes.
type Fencer struct {
	W     Petter
	Valid func() bool
	// OnLost runs once when Valid turns false, before the watchdog fires: stop I/O here
	// (stop arrays). The watchdog is no longer petted while it runs.
	OnLost func(context.Context)
	Log    *slog.Logger
}

// Run pets every Timeout/4 until ctx ends (the caller then disarms) or the session is lost. It
// returns false when it stopped petting because the session was lost.
func (f *Fencer) Run(ctx context.Context) bool {
	period := f.W.Timeout() / 4
	if period <= 0 {
		period = 250 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if !f.Valid() {
			f.Log.Error("session lost: no longer petting the watchdog; stopping I/O before it resets the node",
				"watchdog_timeout", f.W.Timeout())
			if f.OnLost != nil {
				f.OnLost(ctx)
			}
			return false
		}
		if err := f.W.Pet(); err != nil {
			f.Log.Error("pet watchdog", "err", err)
		}
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
		}
	}
}
