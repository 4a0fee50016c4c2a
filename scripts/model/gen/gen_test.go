package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"mdcluster.dev/dlm/etcdlock"
)

// TestParamsCurrent fails when scripts/model/params.pml is not what the generator writes from
// the Go constants now: the models would check timing the code no longer has.
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

// TestScaleExact: every duration of every configuration is a whole number of ticks, and the
// divisors' TTL fractions are exact.
func TestScaleExact(t *testing.T) {
	for _, c := range confs() {
		p, err := scale(c)
		if err != nil {
			t.Fatal(err)
		}
		if p.renew*etcdlock.RenewDivisor != p.ttl || p.retry*etcdlock.RetryDivisor != p.ttl || p.done*etcdlock.DoneDivisor != p.ttl {
			t.Errorf("%s: ttl %d renew %d retry %d done %d", c.name, p.ttl, p.renew, p.retry, p.done)
		}
		if p.wdt >= p.margin {
			t.Errorf("%s: watchdog timeout %d ticks not below margin %d", c.name, p.wdt, p.margin)
		}
	}
}
