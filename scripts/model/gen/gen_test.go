package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/fence"
)

// TestParamsCurrent fails when scripts/model/params.pml is not what the generator writes from
// the Go code now: the models would check timing the code no longer has.
func TestParamsCurrent(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../params.pml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("scripts/model/params.pml is stale: run go run ./scripts/model/gen from the repository root\n%s", diff(string(got), want))
	}
}

// diff names the first line that differs.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  file: " + a + "\n  gen:  " + b
		}
	}
	return ""
}

// TestScaleExact: every duration of every configuration is a whole number of ticks, the
// divisors' TTL fractions are exact (Done may be rounded down only where it comes after the
// fence point), and the fence point is the margin plus fence.FenceTimeouts watchdog timeouts
// before D (the models' mutants move it).
func TestScaleExact(t *testing.T) {
	cs, err := confs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		p, err := scale(c)
		if err != nil {
			t.Fatal(err)
		}
		if p.renew*dlm.RenewDivisor != p.ttl || p.retry*dlm.RetryDivisor != p.ttl || p.done != p.ttl/dlm.DoneDivisor {
			t.Errorf("%s: ttl %d renew %d retry %d done %d", c.name, p.ttl, p.renew, p.retry, p.done)
		}
		if p.doneExact != (p.done*dlm.DoneDivisor == p.ttl) || !p.doneExact && p.done >= p.fence {
			t.Errorf("%s: Done D-%d (exact %v) with the fence point D-%d", c.name, p.done, p.doneExact, p.fence)
		}
		if c.name == "default" && !p.doneExact {
			t.Errorf("default: Done D-%d is not exact", p.done)
		}
		if p.fence != p.margin+fence.FenceTimeouts*p.wdt {
			t.Errorf("%s: fence point D-%d ticks, want margin %d + %d x timeout %d", c.name, p.fence, p.margin, fence.FenceTimeouts, p.wdt)
		}
		if 2*p.wdt > p.margin || p.fence > p.ttl-p.renew-p.retry {
			t.Errorf("%s: timeout %d ticks, margin %d, fence point D-%d: not healthy", c.name, p.wdt, p.margin, p.fence)
		}
		if p.ttl > 255 {
			t.Errorf("%s: %d ticks do not fit Promela's byte", c.name, p.ttl)
		}
	}
}

// TestTightest: the tightest configuration is at the validation's edge: one second less TTL,
// or 100 ms less margin, is refused.
func TestTightest(t *testing.T) {
	ttl, m, err := tightest()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := accepted(ttl, m); !ok {
		t.Fatalf("tightest %s/%s is refused", ttl, m)
	}
	if ok, _ := accepted(ttl, m-100*time.Millisecond); ok {
		t.Errorf("margin %s is accepted with ttl %s", m-100*time.Millisecond, ttl)
	}
	if ok, _ := accepted(ttl-time.Second, m); ok && ttl > 5*time.Second {
		t.Errorf("ttl %s is accepted with margin %s", ttl-time.Second, m)
	}
}
