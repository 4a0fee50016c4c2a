package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
)

// Drift is how many ticks a duration measured by one clock may differ from the same duration
// measured by another (a node, the lock service, a watchdog, a peer) over one TTL; see the
// README. One tick is 1/60 of the TTL (1/84 in the tightest config), more than
// config.MaxClockRate (1 %) allows.
const Drift = 1

// maxTicks bounds the TTL in ticks: time is a Promela byte.
const maxTicks = 255

// conf is one timing configuration the models are checked with.
type conf struct {
	name, define string // the #if symbol that selects it ("" for the default)
	why          string
	ttl, margin  time.Duration
}

// base is a configuration the validation accepts apart from its leases: a node with a
// watchdog, so that the margin is checked against the fencing arithmetic.
func base() config.Config {
	c := config.Default()
	c.Node.Name, c.Node.ID = "model", 1
	c.Cluster.Name = "model"
	c.Leases.Watchdog = "/dev/watchdog"
	c.LockEngine = config.LockEngine{Type: config.EngineExternal, Endpoints: []string{"http://192.0.2.1:2379"},
		Insecure: true, Prefix: c.LockEngine.Prefix}
	return c
}

// accepted reports whether config.Validate takes ttl and margin with a watchdog.
func accepted(ttl, margin time.Duration) (bool, error) {
	c := base()
	c.Leases.TTL.Duration, c.Leases.WatchdogMargin.Duration = ttl, margin
	err := c.Validate()
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(err.Error(), "leases."):
		return false, nil
	default:
		return false, fmt.Errorf("the model's base configuration is refused: %w", err)
	}
}

// tightest finds the shortest TTL the validation accepts with a watchdog, in whole seconds (etcd
// grants whole seconds: etcdlock rounds the TTL up), and the smallest margin it accepts with it.
func tightest() (ttl, margin time.Duration, err error) {
	for ttl = 5 * time.Second; ttl <= 5*time.Minute; ttl += time.Second {
		for margin = 100 * time.Millisecond; margin <= ttl/2; margin += 100 * time.Millisecond {
			ok, err := accepted(ttl, margin)
			if err != nil {
				return 0, 0, err
			}
			if ok {
				return ttl, margin, nil
			}
		}
	}
	return 0, 0, errors.New("the validation accepts no leases.ttl with a watchdog")
}

// confs: the default configuration, and the tightest one the validation accepts with a
// watchdog (the shortest TTL with the smallest margin).
func confs() ([]conf, error) {
	d := config.Default()
	if ok, err := accepted(d.Leases.TTL.Duration, d.Leases.WatchdogMargin.Duration); err != nil || !ok {
		return nil, fmt.Errorf("the default leases are refused with a watchdog (%v)", err)
	}
	ttl, margin, err := tightest()
	if err != nil {
		return nil, err
	}
	return []conf{
		{name: "default", why: "config.Default(): leases.ttl and leases.watchdog_margin",
			ttl: d.Leases.TTL.Duration, margin: d.Leases.WatchdogMargin.Duration},
		{name: "tightest", define: "CONF_TIGHT", why: "the shortest whole-second leases.ttl config.Validate accepts with a watchdog, and its smallest margin",
			ttl: ttl, margin: margin},
	}, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int64) int64 { return a / gcd(a, b) * b }

// params is one configuration in ticks.
type params struct {
	conf
	tick                                                time.Duration
	timeout, fenceWait, fenceBefore                     time.Duration
	ttl, renew, retry, done, margin, wdt, fence, fenceW int64
	doneExact                                           bool // done is TTL/DoneDivisor exactly (else its floor)
}

func scale(c conf) (params, error) {
	timeout := fence.WatchdogTimeout(c.ttl, c.margin)
	cfg := base()
	cfg.Leases.TTL.Duration, cfg.Leases.WatchdogMargin.Duration = c.ttl, c.margin
	fw := cfg.EffectiveFenceWait()
	renew, retry := c.ttl/dlm.RenewDivisor, c.ttl/dlm.RetryDivisor
	if timeout < time.Second || timeout >= c.margin || !fence.Healthy(c.ttl, renew, retry, c.margin, timeout) {
		return params{}, fmt.Errorf("%s: watchdog timeout %s does not fit margin %s and ttl %s", c.name, timeout, c.margin, c.ttl)
	}
	// The fence point, from the code: how long before D the last pet is allowed.
	d := time.Unix(1000, 0)
	fp := fence.FencePoint(d, c.margin, timeout)
	if !fence.PetAllowed(fp, d, c.margin, timeout) || fence.PetAllowed(fp.Add(1), d, c.margin, timeout) {
		return params{}, fmt.Errorf("%s: fence.PetAllowed does not end at fence.FencePoint", c.name)
	}
	before := d.Sub(fp)
	// The TTL in ticks is a multiple of the renew and retry divisors, so that the renewal
	// period and the retry are whole ticks; the smallest such multiple that also makes the
	// margin, the watchdog timeout, the fence point and the fence wait whole ticks. The Done
	// point (D - TTL/DoneDivisor) is exact when that multiple is one of DoneDivisor too (the
	// default config); otherwise it is rounded down — at whole ticks, "D - now <= ttl/DoneDivisor" holds exactly when
	// D - now <= its floor — which is allowed only while it comes after the fence point: the
	// guard has acted on the session by then, Done cannot be what ends it.
	l := lcm(dlm.RenewDivisor, dlm.RetryDivisor)
	for k := int64(1); l*k <= maxTicks; k++ {
		n := l * k
		ticks := func(d time.Duration) (int64, bool) {
			x := int64(d) * n
			return x / int64(c.ttl), x%int64(c.ttl) == 0
		}
		m, ok1 := ticks(c.margin)
		t, ok2 := ticks(timeout)
		f, ok3 := ticks(fw)
		b, ok4 := ticks(before)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		done := n / dlm.DoneDivisor
		if done*dlm.DoneDivisor != n && done >= b {
			return params{}, fmt.Errorf("%s: with %d ticks per TTL the Done point D-%d/%d is not exact and not after the fence point D-%d",
				c.name, n, n, dlm.DoneDivisor, b)
		}
		return params{conf: c, tick: c.ttl / time.Duration(n), timeout: timeout, fenceWait: fw, fenceBefore: before,
			ttl: n, renew: n / dlm.RenewDivisor, retry: n / dlm.RetryDivisor, done: done, doneExact: done*dlm.DoneDivisor == n,
			margin: m, wdt: t, fence: b, fenceW: f}, nil
	}
	return params{}, fmt.Errorf("%s: no tick up to ttl/%d divides margin %s, timeout %s, fence point D-%s and fence wait %s",
		c.name, maxTicks, c.margin, timeout, before, fw)
}

// Render returns the text of params.pml.
func Render() (string, error) {
	cs, err := confs()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`/* Generated by "go run ./scripts/model/gen" from the Go code; DO NOT EDIT.
 * gen's test fails when this file differs from what the generator writes.
 *
 * Time is counted in ticks; the TTL in ticks is the smallest multiple of the least common
 * multiple of dlm.RenewDivisor and RetryDivisor that makes the margin, the watchdog timeout,
 * the fence point and the fence wait whole ticks too, so those durations are exact. DONE is
 * TTL/DONE_DIVISOR, rounded down where that is not whole (only allowed after the fence point).
 * WDT is fence.WatchdogTimeout(ttl, margin), FENCE is D - fence.FencePoint.
 */
`)
	fmt.Fprintf(&b, "#define RENEW_DIVISOR   %d /* dlm.RenewDivisor */\n", dlm.RenewDivisor)
	fmt.Fprintf(&b, "#define RETRY_DIVISOR   %d /* dlm.RetryDivisor */\n", dlm.RetryDivisor)
	fmt.Fprintf(&b, "#define DONE_DIVISOR    %d /* dlm.DoneDivisor */\n", dlm.DoneDivisor)
	fmt.Fprintf(&b, "#define FENCE_TIMEOUTS  %d /* fence.FenceTimeouts */\n", fence.FenceTimeouts)
	fmt.Fprintf(&b, "#define DRIFT           %d /* ticks two clocks may disagree by over a TTL */\n", Drift)
	// The configurations with a symbol first (#if, #elif), the default last (#else).
	for i, c := range append(cs[1:], cs[0]) {
		p, err := scale(c)
		if err != nil {
			return "", err
		}
		switch {
		case c.define == "":
			b.WriteString("\n#else\n")
		case i == 0:
			fmt.Fprintf(&b, "\n#if defined(%s)\n", c.define)
		default:
			fmt.Fprintf(&b, "\n#elif defined(%s)\n", c.define)
		}
		fmt.Fprintf(&b, "/* %s: %s;\n * ttl %s, margin %s, watchdog timeout %s, fence point D-%s, fence wait %s; 1 tick = %s */\n",
			c.name, c.why, c.ttl, c.margin, p.timeout, p.fenceBefore, p.fenceWait, p.tick)
		fmt.Fprintf(&b, "#define CONF_NAME  \"%s\"\n", c.name)
		fmt.Fprintf(&b, "#define TTL        %d /* leases.ttl */\n", p.ttl)
		fmt.Fprintf(&b, "#define RENEW      %d /* TTL/RENEW_DIVISOR: renewal period */\n", p.renew)
		fmt.Fprintf(&b, "#define RETRY      %d /* TTL/RETRY_DIVISOR: retry after a failed renewal */\n", p.retry)
		if p.doneExact {
			fmt.Fprintf(&b, "#define DONE       %d /* TTL/DONE_DIVISOR: keepAlive gives up this long before D */\n", p.done)
		} else {
			fmt.Fprintf(&b, "#define DONE       %d /* TTL/DONE_DIVISOR, rounded down (%d/%d; after F): keepAlive gives up this long before D */\n", p.done, p.ttl, dlm.DoneDivisor)
		}
		fmt.Fprintf(&b, "#define MARGIN     %d /* leases.watchdog_margin */\n", p.margin)
		fmt.Fprintf(&b, "#define WDT        %d /* fence.WatchdogTimeout(ttl, margin) */\n", p.wdt)
		fmt.Fprintf(&b, "#define FENCE      %d /* D - fence.FencePoint(D, margin, WDT) */\n", p.fence)
		fmt.Fprintf(&b, "#define FENCE_WAIT %d /* config.EffectiveFenceWait() */\n", p.fenceW)
	}
	b.WriteString("#endif\n")
	return b.String(), nil
}
