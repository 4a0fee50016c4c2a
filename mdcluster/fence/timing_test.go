package fence

import (
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// The watchdog timeout for every TTL and margin a configuration may have is whole seconds, at
// most half the margin, and keeps a session renewed on schedule clear of its fence point; where
// no second fits, it is zero (the configuration is refused).
func TestWatchdogTimeout(t *testing.T) {
	for _, tc := range []struct{ ttl, margin, want time.Duration }{
		{15 * time.Second, 5 * time.Second, 2 * time.Second},
		{15 * time.Second, 6 * time.Second, time.Second},
		{15 * time.Second, 7500 * time.Millisecond, time.Second},
		{8 * time.Second, 3 * time.Second, time.Second},
		{20 * time.Second, 8 * time.Second, 2 * time.Second},
		{30 * time.Second, 5 * time.Second, 2 * time.Second},
		{5 * time.Second, 2 * time.Second, 0},
		{5 * time.Minute, 150 * time.Second, 25 * time.Second},
	} {
		if got := WatchdogTimeout(tc.ttl, tc.margin); got != tc.want {
			t.Errorf("WatchdogTimeout(%s, %s) = %s, want %s", tc.ttl, tc.margin, got, tc.want)
		}
	}
	for ttl := 5 * time.Second; ttl <= 5*time.Minute; ttl += time.Second {
		for m := MinMargin; m <= ttl/2; m += 250 * time.Millisecond {
			to := WatchdogTimeout(ttl, m)
			if to == 0 {
				continue
			}
			if to >= m || to%time.Second != 0 {
				t.Fatalf("ttl %s margin %s: timeout %s", ttl, m, to)
			}
			if !Healthy(ttl, ttl/dlm.RenewDivisor, ttl/dlm.RetryDivisor, m, to) {
				t.Fatalf("ttl %s margin %s timeout %s: a session renewed on schedule reaches its fence point", ttl, m, to)
			}
		}
	}
}

// The fence point keeps three watchdog timeouts before D-M: a pet decided at the fence point
// that lands late after a pause, the timer's own timeout, and the kernel's ping when a process
// killed right after that pet closes the watchdog.
func TestFencePoint(t *testing.T) {
	d := time.Now().Add(10 * time.Second)
	if got := FencePoint(d, 3*time.Second, time.Second); !got.Equal(d.Add(-6 * time.Second)) {
		t.Fatalf("FencePoint = %v", got.Sub(d))
	}
	if !PetAllowed(d.Add(-6*time.Second), d, 3*time.Second, time.Second) {
		t.Fatal("a pet at the fence point itself is allowed: the reset then lands M before D at the latest")
	}
	if PetAllowed(d.Add(-6*time.Second+time.Nanosecond), d, 3*time.Second, time.Second) {
		t.Fatal("a pet after the fence point could let the reset land later than M before D")
	}
}

// The silence budget is what is left of the TTL once a renewal period, a retry delay, the margin
// and three watchdog timeouts are taken: the default leases (30 s, 5 s margin, 2 s timeout)
// outlast an etcd leader change; the former default (15 s) did not, by far.
func TestStoreSilence(t *testing.T) {
	for _, tc := range []struct{ ttl, margin, timeout, want time.Duration }{
		{30 * time.Second, 5 * time.Second, 2 * time.Second, 11500 * time.Millisecond},
		{15 * time.Second, 5 * time.Second, 2 * time.Second, 250 * time.Millisecond},
		{20 * time.Second, 8 * time.Second, 2 * time.Second, time.Second},
		{30 * time.Second, 5 * time.Second, 0, 17500 * time.Millisecond},
	} {
		if got := StoreSilence(tc.ttl, tc.margin, tc.timeout); got != tc.want {
			t.Errorf("StoreSilence(%s, %s, %s) = %s, want %s", tc.ttl, tc.margin, tc.timeout, got, tc.want)
		}
	}
	if s := StoreSilence(dlm.DefaultTTL, 5*time.Second, WatchdogTimeout(dlm.DefaultTTL, 5*time.Second)); s < dlm.LeaderFailover {
		t.Errorf("the default TTL leaves %s of silence, less than an etcd leader change (%s)", s, dlm.LeaderFailover)
	}
	// Where a timeout fits, a session renewed on schedule keeps a budget of zero or more.
	for ttl := 5 * time.Second; ttl <= 5*time.Minute; ttl += time.Second {
		for m := MinMargin; m <= ttl/2; m += 250 * time.Millisecond {
			if to := WatchdogTimeout(ttl, m); to > 0 && StoreSilence(ttl, m, to) < 0 {
				t.Fatalf("ttl %s margin %s timeout %s: negative silence budget", ttl, m, to)
			}
		}
	}
}
