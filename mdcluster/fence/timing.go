package fence

import (
	"time"

	"mdcluster.dev/dlm"
)

// The fencing arithmetic. D is the earliest moment the lock service may expire the node's
// session (dlm.Deadliner), M the configured margin (leases.watchdog_margin) and T the timeout
// the watchdog driver accepted. A pet at time t lets the watchdog fire at t+T at the latest.
// The kernel also pings a watchdog once more when its last opener closes it without the magic
// character — and every exit of a process, kill -9 included, closes it — so a process killed
// after its last pet can push the reset one more T away. And a pet decided at the fence point
// can land up to T late: a process stopped (SIGSTOP) between its check and the ioctl pets when
// it resumes, which it can only do before the watchdog fires. The node therefore pets only while
// t+3T <= D-M: whatever happens to the agent after a pet was decided (a hang, a pause, kill -9),
// the node is reset no later than M before anyone else can be granted its locks (scripts/model
// checks it; with 2T spin found the pause-then-kill trail that lands the reset at D-M+T). The
// agent treats its session as lost from that same point on, the fence point D-M-3T. A
// restarted agent never opens the watchdog past its predecessor's fence point (another close
// would buy another T), and until it has resumed the session it pets against the recorded one.
//
// scripts/model checks this protocol; its parameters are generated from these constants.

// FenceTimeouts is how many watchdog timeouts the fence point keeps before D-M: a pet that lands
// late after a pause, the timer's own, and the ping of a close without the magic character.
const FenceTimeouts = 3

// MinMargin is the smallest margin with a watchdog: a one-second timeout must be below it.
const MinMargin = 2 * time.Second

// WatchdogTimeout is the timeout to ask of the watchdog driver for a TTL and margin: as long as
// a session renewed on schedule stays clear of its fence point (see Healthy), at most half the
// margin, in whole seconds (the driver's unit). Zero means no timeout of a second fits.
func WatchdogTimeout(ttl, margin time.Duration) time.Duration {
	budget := ttl - ttl/dlm.RenewDivisor - ttl/dlm.RetryDivisor - margin
	return min(margin/2, budget/FenceTimeouts).Truncate(time.Second)
}

// StoreSilence is how long the lock service may stay silent (no renewal gets through) before
// the node reaches its fence point, in the worst case: the silence begins just before a renewal
// was due, and the last retry before the fence point comes up to a retry delay early. A leader
// change in an etcd cluster stalls renewals for up to dlm.LeaderFailover; a node whose silence
// budget is shorter resets itself at every such change. timeout is the watchdog's (0: none).
// It is rounded down to the millisecond (the divisions leave nanoseconds over).
func StoreSilence(ttl, margin, timeout time.Duration) time.Duration {
	s := ttl - ttl/dlm.RenewDivisor - ttl/dlm.RetryDivisor - margin - FenceTimeouts*timeout
	return s - (s%time.Millisecond+time.Millisecond)%time.Millisecond // floor, whatever the sign
}

// FencePoint is the last moment a pet is allowed for a session with deadline d.
func FencePoint(d time.Time, margin, timeout time.Duration) time.Time {
	return d.Add(-margin - FenceTimeouts*timeout)
}

// PetAllowed reports whether petting at now keeps the reset at least margin before d.
func PetAllowed(now, d time.Time, margin, timeout time.Duration) bool {
	return !now.After(FencePoint(d, margin, timeout))
}

// Healthy reports whether a session renewed every renew, a late renewal retried after retry,
// never reaches its fence point: right before a renewal lands, its deadline is at least
// ttl-renew-retry away, which must cover the margin plus FenceTimeouts watchdog timeouts.
func Healthy(ttl, renew, retry, margin, timeout time.Duration) bool {
	return margin+FenceTimeouts*timeout <= ttl-renew-retry
}
