package fence

import "time"

// The fencing arithmetic. D is the earliest moment the lock service may expire the node's
// session (dlm.Deadliner), M the configured margin (leases.watchdog_margin) and T the timeout
// the watchdog driver accepted. A pet at time t lets the watchdog fire at t+T at the latest, so
// a node that pets only while t+T <= D-M is reset no later than M before anyone else can be
// granted its locks, whether it then hangs, is paused or loses its network. The agent treats
// its session as lost from that same point on (the fence point, D-M-T).
//
// scripts/model checks this protocol; its parameters are read from these constants.

// TimeoutDivisor: the watchdog timeout is the margin divided by this, in whole seconds (the
// driver's unit), at least one second; it must stay below the margin.
const TimeoutDivisor = 2

// MinMargin is the smallest margin with a watchdog: a one-second timeout must be below it.
const MinMargin = 2 * time.Second

// WatchdogTimeout is the timeout to ask of the watchdog driver for margin M.
func WatchdogTimeout(margin time.Duration) time.Duration {
	return max((margin / TimeoutDivisor).Truncate(time.Second), time.Second)
}

// FencePoint is the last moment a pet is allowed for a session with deadline d.
func FencePoint(d time.Time, margin, timeout time.Duration) time.Time {
	return d.Add(-margin - timeout)
}

// PetAllowed reports whether petting at now keeps the reset at least margin before d.
func PetAllowed(now, d time.Time, margin, timeout time.Duration) bool {
	return !now.After(FencePoint(d, margin, timeout))
}

// Healthy reports whether a session renewed every renew, a late renewal retried after retry,
// never reaches its fence point: right before a renewal lands, its deadline is at least
// ttl-renew-retry away, which must cover margin plus the watchdog timeout.
func Healthy(ttl, renew, retry, margin, timeout time.Duration) bool {
	return margin+timeout <= ttl-renew-retry
}
