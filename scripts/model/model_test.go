// Package model runs the Promela models of this directory with spin (see README.md): the
// implemented protocol must verify within the stated bounds, and each mutant (among them the
// two flaws the model found in the agent before c948591) must be refuted by a counter-example
// whose trail replays to the violation through the events that make it.
//
// Spin and a C compiler are needed. Without them the test is skipped, unless MDCLUSTER_MODEL=1
// (make model), which makes their absence a failure; MDCLUSTER_MODEL=0 skips it (make
// test-unit, since make test runs make model itself).
package model

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of the exhaustive searches (README.md, "Bounds").
var (
	// all: any two faults, on any nodes, of any kind.
	all = []string{"BUDGET=2"}
	// holder: any three faults on node 0, the node that holds the array (or, in the control
	// plane, any member). It includes every pair of kills, partitions and pauses of node 0
	// (the killpart bound, which left SIGSTOP out while finding 2 stood).
	holder = []string{"FAULTY=1", "BUDGET=3"}
	// isolated: node 0 is cut off from the lock service from the start and takes up to 24
	// faults of any kind on it: any number of restarts, kills, pauses and clean stops in
	// practice, as its session runs out after one TTL.
	isolated = []string{"ISOLATE0", "FAULTY=1", "BUDGET=24"}
	// killpart: two kills or partitions of node 0, no SIGSTOP (a mutant's bound: the trail
	// needs no pause).
	killpart = []string{"FAULTY=1", "KINDS=10", "BUDGET=2"}
	// live: liveness, faults end once two were spent.
	live = []string{"LIVE", "BUDGET=2"}
	// losses: renewals lost, on any node (and nothing else). fence.Healthy promises to ride
	// out one, a late renewal retried after RETRY; the default leases (30 s, margin 5 s, T 2 s)
	// ride out five in a row (a renewal and four retries before the fence point), the tightest
	// accepted configuration one.
	losses      = []string{"KINDS=16", "BUDGET=5"}
	tightLosses = []string{"KINDS=16", "BUDGET=1"}
)

// Switches: the tightest configuration, the fence command.
const (
	tight    = "CONF_TIGHT"
	fenceCmd = "FENCE_CMD"
)

// check is one claim checked by a search: verified, or refuted by a trail that shows every
// event of want, in order.
type check struct {
	claim  string
	refute bool
	want   []string
}

// search is one pan binary (a model with its switches and bound) and the claims checked with it.
type search struct {
	name   string
	model  string // activation or controlplane
	defs   []string
	checks []check
	live   bool // acceptance cycles under weak fairness (pan -a -f)
	big    bool // a million states or more: pan is compiled with optimisation
}

func ok(claims ...string) []check {
	var cs []check
	for _, c := range claims {
		cs = append(cs, check{claim: c})
	}
	return cs
}

func refuted(claim string, want ...string) []check {
	return []check{{claim: claim, refute: true, want: want}}
}

func d(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func o(s ...string) []string { return s }

func searches() []search {
	// The trails of the two flaws the model found in the agent (README.md, "Findings"), now
	// mutants: the guard pets with no deadline until the lock engine is up; a pause between
	// the guard's check and its pet, then kill -9, with F = D - M - 2T.
	noRecord := []string{"node 0: kill -9", "node 0: opens the watchdog", "lease 0 deleted"}
	twoTimeouts := []string{"SIGSTOP between the guard's check and its pet", "the pet checked before SIGSTOP", "node 0: kill -9"}
	return []search{
		// (a) exclusive activation.
		{name: "activation/healthy", model: "activation", defs: losses, checks: ok("healthy")},
		{name: "activation/tight/healthy", model: "activation", defs: d(o(tight), tightLosses), checks: ok("healthy")},
		// One more lost renewal reaches the fence point: the bounds are tight. In the tightest
		// configuration F = D - M - 3T leaves one retry.
		{name: "activation/limit/six-losses", model: "activation", defs: o("KINDS=16", "BUDGET=6"),
			checks: refuted("healthy", "renewal request lost", "renewal request lost", "renewal request lost",
				"renewal request lost", "renewal request lost", "renewal request lost", "session lost")},
		{name: "activation/tight/limit/two-losses", model: "activation", defs: d(o(tight), o("KINDS=16", "BUDGET=2")),
			checks: refuted("healthy", "renewal request lost", "renewal request lost", "session lost")},
		{name: "activation/all", model: "activation", defs: all, checks: ok("safe"), big: true},
		{name: "activation/holder", model: "activation", defs: holder, checks: ok("safe"), big: true},
		{name: "activation/isolated", model: "activation", defs: isolated, checks: ok("safe"), big: true},
		{name: "activation/live", model: "activation", defs: live, checks: ok("live"), live: true, big: true},
		{name: "activation/tight/all", model: "activation", defs: d(o(tight), all), checks: ok("safe"), big: true},
		{name: "activation/tight/isolated", model: "activation", defs: d(o(tight), isolated), checks: ok("safe"), big: true},
		{name: "activation/mutant/no-record", model: "activation", defs: o("MUT_NO_RECORD", "ISOLATE0", "FAULTY=1", "BUDGET=1"),
			checks: refuted("excl", append(noRecord, "node 1: ASSEMBLES")...)},
		{name: "activation/tight/mutant/no-record", model: "activation", defs: o(tight, "MUT_NO_RECORD", "ISOLATE0", "FAULTY=1", "BUDGET=1"),
			checks: refuted("excl", append(noRecord, "node 1: ASSEMBLES")...)},
		{name: "activation/mutant/two-timeouts", model: "activation", defs: o("MUT_TWO_TIMEOUTS", "ISOLATE0", "FAULTY=1", "BUDGET=2"),
			checks: refuted("resetm", twoTimeouts...)},
		{name: "activation/mutant/no-margin", model: "activation", defs: o("MUT_NO_MARGIN", "FAULTY=1", "BUDGET=2"),
			checks: refuted("excl", "lease 0 deleted", "node 1: ASSEMBLES")},
		{name: "activation/mutant/one-timeout", model: "activation", defs: d(o("MUT_ONE_TIMEOUT"), killpart),
			checks: refuted("resetm", "node 0: session lost", "node 0: kill -9")},
		{name: "activation/mutant/restart-open", model: "activation", defs: o("MUT_RESTART_OPEN", "ISOLATE0", "FAULTY=1", "KINDS=2", "BUDGET=24"),
			checks: refuted("excl", "node 0: opens the watchdog (a ping) before it checks F", "node 0: kill -9", "lease 0 deleted", "node 1: ASSEMBLES")},
		{name: "activation/mutant/release-first", model: "activation", defs: o("MUT_RELEASE_FIRST", "BUDGET=1"),
			checks: refuted("excl", "SIGTERM", "releases act", "array stop fails", "ASSEMBLES")},
		{name: "activation/mutant/own-lease", model: "activation", defs: o("MUT_OWN_LEASE", "BUDGET=1"),
			checks: refuted("excl", "keepAlive stalls", "deleted by the lock service", "ASSEMBLES")},

		// (b) the control plane, with fence_wait and with a fence command.
		{name: "controlplane/healthy", model: "controlplane", defs: losses, checks: ok("healthy")},
		{name: "controlplane/all", model: "controlplane", defs: all, checks: ok("safe"), big: true},
		{name: "controlplane/all-fencecmd", model: "controlplane", defs: d(o(fenceCmd), all), checks: ok("safe"), big: true},
		{name: "controlplane/holder", model: "controlplane", defs: holder, checks: ok("safe"), big: true},
		{name: "controlplane/isolated", model: "controlplane", defs: isolated, checks: ok("safe"), big: true},
		{name: "controlplane/isolated-fencecmd", model: "controlplane", defs: d(o(fenceCmd), isolated), checks: ok("safe"), big: true},
		{name: "controlplane/tight/all", model: "controlplane", defs: d(o(tight), all), checks: ok("safe"), big: true},
		{name: "controlplane/tight/isolated", model: "controlplane", defs: d(o(tight), isolated), checks: ok("safe"), big: true},
		{name: "controlplane/mutant/no-record", model: "controlplane", defs: o("MUT_NO_RECORD", "ISOLATE0", "FAULTY=1", "BUDGET=1"),
			checks: refuted("slotsafe", append(noRecord, "recovers the slot of node 0 (it can write: 1)")...)},
		{name: "controlplane/mutant/two-timeouts", model: "controlplane", defs: o("MUT_TWO_TIMEOUTS", "ISOLATE0", "FAULTY=1", "BUDGET=2"),
			checks: refuted("resetm", twoTimeouts...)},
		{name: "controlplane/mutant/no-margin", model: "controlplane", defs: o("MUT_NO_MARGIN", "FAULTY=1", "BUDGET=2"),
			checks: refuted("slotsafe", "lease 0 deleted", "recovers the slot of node 0 (it can write: 1)")},
		{name: "controlplane/mutant/one-timeout", model: "controlplane", defs: d(o("MUT_ONE_TIMEOUT"), killpart),
			checks: refuted("resetm", "node 0: session lost", "node 0: kill -9")},
		{name: "controlplane/mutant/restart-open", model: "controlplane", defs: o("MUT_RESTART_OPEN", "ISOLATE0", "FAULTY=1", "KINDS=2", "BUDGET=24"),
			checks: refuted("slotsafe", "node 0: opens the watchdog (a ping) before it checks F", "node 0: kill -9", "lease 0 deleted", "recovers the slot of node 0 (it can write: 1)")},
		{name: "controlplane/mutant/release-first", model: "controlplane", defs: o("MUT_RELEASE_FIRST", "FAULTY=4", "BUDGET=2"),
			checks: refuted("slotsafe", "SIGTERM", "lease 4 deleted", "array stop fails", "recovers the slot of node 2 (it can write: 1)")},
		{name: "controlplane/mutant/own-lease", model: "controlplane", defs: o("MUT_OWN_LEASE", "BUDGET=1"),
			checks: refuted("slotsafe", "keepAlive stalls", "deleted by the lock service", "(it can write: 1)")},
	}
}

// memLimitMB bounds each search's memory; a search that needs more fails (it is not complete).
const memLimitMB = 4096

// maxDepth is pan's depth bound; a search that reaches it fails (it is not complete).
const maxDepth = 200000

func tools(t *testing.T) {
	mode := os.Getenv("MDCLUSTER_MODEL")
	if mode == "0" {
		t.Skip("MDCLUSTER_MODEL=0: the models run in make model")
	}
	for _, tool := range []string{"spin", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if mode == "1" {
				t.Fatalf("%s is required to check the models (apt-get install spin gcc; scripts/vm/setup-host.sh installs them)", tool)
			}
			t.Skipf("%s not found: the models are checked by make model", tool)
		}
	}
}

func TestModels(t *testing.T) {
	tools(t)
	if testing.Short() && os.Getenv("MDCLUSTER_MODEL") != "1" {
		t.Skip("-short")
	}
	// The big searches first, so that the two cores stay busy to the end.
	ss := searches()
	var order []search
	for _, big := range []bool{true, false} {
		for _, s := range ss {
			if s.big == big {
				order = append(order, s)
			}
		}
	}
	for _, s := range order {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t)
		})
	}
}

func (s search) flags() []string {
	var out []string
	for _, d := range s.defs {
		out = append(out, "-D"+d)
	}
	return out
}

// result is what pan reports.
type result struct {
	errors, states, depth int
	memMB, seconds        float64
}

var (
	reErrors = regexp.MustCompile(`errors: (\d+)`)
	reStates = regexp.MustCompile(`(\d+) states, stored`)
	reDepth  = regexp.MustCompile(`depth reached (\d+)`)
	reMem    = regexp.MustCompile(`([\d.]+)\s+total actual memory usage`)
	reTime   = regexp.MustCompile(`pan: elapsed time ([\d.e+]+) seconds`)
)

func parse(out string) (result, error) {
	var r result
	ints := []struct {
		re *regexp.Regexp
		v  *int
	}{{reErrors, &r.errors}, {reStates, &r.states}, {reDepth, &r.depth}}
	for _, x := range ints {
		m := x.re.FindStringSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("pan output has no %q", x.re)
		}
		*x.v, _ = strconv.Atoi(m[1])
	}
	if m := reMem.FindStringSubmatch(out); m != nil {
		r.memMB, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reTime.FindStringSubmatch(out); m != nil {
		r.seconds, _ = strconv.ParseFloat(m[1], 64)
	}
	return r, nil
}

func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out)))
	}
	return string(out), nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// run builds pan for the search and checks each of its claims.
func (s search) run(t *testing.T) {
	dir := t.TempDir()
	files, err := filepath.Glob("*.pml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no models here: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pml := s.model + ".pml"
	if _, err := command(ctx, dir, "spin", append(append([]string{"-a"}, s.flags()...), pml)...); err != nil {
		t.Fatal(err)
	}
	// No state compression: it costs more time than the memory it saves here. gcc -O2 takes
	// about 7 s on pan.c, more than the small searches run unoptimised.
	cflags := []string{"-O0", "-w", fmt.Sprintf("-DMEMLIM=%d", memLimitMB), "-o", "pan", "pan.c"}
	if s.big {
		cflags[0] = "-O2"
	}
	if !s.live {
		cflags = append([]string{"-DSAFETY"}, cflags...)
	}
	if _, err := command(ctx, dir, "gcc", cflags...); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.checks {
		s.verify(ctx, t, dir, c)
	}
}

func (s search) verify(ctx context.Context, t *testing.T, dir string, c check) {
	pan := []string{fmt.Sprintf("-m%d", maxDepth), "-N", c.claim}
	if s.live {
		pan = append(pan, "-a", "-f")
	}
	out, err := command(ctx, dir, "./pan", pan...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out))
	}
	t.Logf("%s %s %v: %d states, depth %d, %.0f MB, %.1f s, errors %d", s.model, c.claim, s.flags(), res.states, res.depth, res.memMB, res.seconds, res.errors)
	for _, bad := range []string{"max search depth too small", "out of memory", "MEMLIM"} {
		if strings.Contains(out, bad) && !(c.refute && res.errors > 0) {
			t.Fatalf("the search is not complete (%s)\n%s", bad, tail(out))
		}
	}
	if !c.refute {
		if res.errors != 0 {
			t.Fatalf("%s is violated: replay with spin -t %s %s.pml\n%s", c.claim, strings.Join(s.flags(), " "), s.model, s.replay(ctx, t, dir))
		}
		return
	}
	if res.errors == 0 {
		t.Fatalf("no counter-example to %s: the mutant or finding is no longer refuted", c.claim)
	}
	events := s.replay(ctx, t, dir)
	if !strings.Contains(events, "assertion violated") && !strings.Contains(events, "acceptance cycle") {
		t.Fatalf("the trail does not replay to a violation of %s:\n%s", c.claim, events)
	}
	// The trail passes through the events that make the counter-example, in order.
	rest := events
	for _, w := range c.want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the trail to a violation of %s lacks %q (in order):\n%s", c.claim, w, events)
		}
		rest = rest[i+len(w):]
	}
	t.Logf("counter-example to %s:\n%s", c.claim, events)
}

// replay follows the trail pan wrote and returns the events the model prints, with the
// violation.
func (s search) replay(ctx context.Context, t *testing.T, dir string) string {
	pml := s.model + ".pml"
	args := append(append([]string{"-T", "-k", pml + ".trail"}, s.flags()...), pml)
	out, err := command(ctx, dir, "spin", args...)
	if err != nil {
		t.Fatal(err)
	}
	var ev []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "t=") || strings.Contains(l, "violated") || strings.Contains(l, "cycle") {
			ev = append(ev, l)
		}
	}
	return strings.Join(ev, "\n")
}
