package fence

import (
	"testing"
	"time"
)

// The watchdog timeout for every margin a configuration may have is whole seconds, at least
// one, below the margin (from 2 s), and keeps a session renewed on schedule clear of its fence
// point for every TTL whose half is at least the margin.
func TestWatchdogTimeout(t *testing.T) {
	for _, tc := range []struct{ margin, want time.Duration }{
		{time.Second, time.Second}, {2 * time.Second, time.Second}, {3 * time.Second, time.Second},
		{5 * time.Second, 2 * time.Second}, {7500 * time.Millisecond, 3 * time.Second}, {time.Minute, 30 * time.Second},
	} {
		if got := WatchdogTimeout(tc.margin); got != tc.want {
			t.Errorf("WatchdogTimeout(%s) = %s, want %s", tc.margin, got, tc.want)
		}
	}
	for ttl := 5 * time.Second; ttl <= 5*time.Minute; ttl += time.Second {
		for m := MinMargin; m <= ttl/2; m += 250 * time.Millisecond {
			to := WatchdogTimeout(m)
			if to >= m {
				t.Fatalf("margin %s: timeout %s is not below it", m, to)
			}
			if !Healthy(ttl, ttl/6, ttl/12, m, to) {
				t.Fatalf("ttl %s margin %s timeout %s: a session renewed on schedule reaches its fence point", ttl, m, to)
			}
		}
	}
}

func TestFencePoint(t *testing.T) {
	d := time.Now().Add(10 * time.Second)
	if got := FencePoint(d, 3*time.Second, time.Second); !got.Equal(d.Add(-4 * time.Second)) {
		t.Fatalf("FencePoint = %v", got.Sub(d))
	}
	if !PetAllowed(d.Add(-4*time.Second), d, 3*time.Second, time.Second) {
		t.Fatal("a pet at the fence point itself is allowed: the reset then lands exactly M before D")
	}
	if PetAllowed(d.Add(-4*time.Second+time.Nanosecond), d, 3*time.Second, time.Second) {
		t.Fatal("a pet after the fence point would let the reset land later than M before D")
	}
}
