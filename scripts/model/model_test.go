// Package model runs the Promela models of this directory with spin (see README.md): the
// models must verify within their stated bounds, each mutant must be refuted by a
// counter-example whose trail replays, and the protocol flaw found in design.md's restart rule
// must still show (until the design takes the amendment the FIX_START_CHECK runs check).
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

// bound is a bound of the exhaustive searches (README.md, "Bounds").
type bound struct {
	defs []string
	big  bool // millions of states: pan is compiled with optimisation
}

var (
	// all: any two faults, on any nodes, of any kind.
	all = bound{[]string{"BUDGET=2"}, true}
	// holder: any three faults on node 0, the node that holds the array (or, in the control
	// plane, any member).
	holder = bound{[]string{"FAULTY=1", "BUDGET=3"}, true}
	// isolated: node 0 is cut off from the lock service from the start and takes up to 24
	// faults of any kind on it (its process stopped, killed, restarted, stopped cleanly...),
	// any number of restarts and pauses in practice: its session runs out after 60 ticks.
	isolated = bound{[]string{"ISOLATE0", "FAULTY=1", "BUDGET=24"}, false}
	// live: liveness, faults end once two were spent.
	live = bound{[]string{"LIVE", "BUDGET=2"}, true}
	// one: one fault, for the mutants.
	one = bound{[]string{"BUDGET=1"}, false}
	// losses: renewals lost, any two, on any nodes (and nothing else).
	losses = bound{[]string{"KINDS=16", "BUDGET=2"}, false}
)

// Options: the amendment to design.md's restart rule (README.md, "Finding"), the tightest
// configuration, the fence command.
const (
	fix      = "FIX_START_CHECK"
	tight    = "CONF_TIGHT"
	fenceCmd = "FENCE_CMD"
)

// run is one spin search.
type run struct {
	name   string
	model  string // activation or controlplane
	bound  bound
	opts   []string
	claim  string
	live   bool // an LTL liveness property: acceptance cycles under weak fairness
	refute bool // a counter-example is expected (mutant or finding)
}

func runs() []run {
	o := func(s ...string) []string { return s }
	return []run{
		// (a) exclusive activation.
		{name: "activation/healthy", model: "activation", bound: losses, claim: "healthy"},
		{name: "activation/tight/healthy", model: "activation", bound: losses, opts: o(tight), claim: "healthy"},
		{name: "activation/design/isolated", model: "activation", bound: isolated, claim: "excl", refute: true},
		{name: "activation/fixed/all", model: "activation", bound: all, opts: o(fix), claim: "excl"},
		{name: "activation/fixed/holder", model: "activation", bound: holder, opts: o(fix), claim: "excl"},
		{name: "activation/fixed/isolated", model: "activation", bound: isolated, opts: o(fix), claim: "excl"},
		{name: "activation/fixed/isolated-resetby", model: "activation", bound: isolated, opts: o(fix), claim: "resetby"},
		{name: "activation/fixed/isolated-resetdm", model: "activation", bound: isolated, opts: o(fix), claim: "resetdm", refute: true},
		{name: "activation/fixed/live", model: "activation", bound: live, opts: o(fix), claim: "live", live: true},
		{name: "activation/tight/design/isolated", model: "activation", bound: isolated, opts: o(tight), claim: "excl", refute: true},
		{name: "activation/tight/fixed/all", model: "activation", bound: all, opts: o(tight, fix), claim: "excl"},
		{name: "activation/tight/fixed/isolated", model: "activation", bound: isolated, opts: o(tight, fix), claim: "excl"},
		{name: "activation/mutant/no-margin", model: "activation", bound: all, opts: o(fix, "MUT_NO_MARGIN"), claim: "excl", refute: true},
		{name: "activation/mutant/release-first", model: "activation", bound: one, opts: o(fix, "MUT_RELEASE_FIRST"), claim: "excl", refute: true},
		{name: "activation/mutant/own-lease", model: "activation", bound: one, opts: o(fix, "MUT_OWN_LEASE"), claim: "excl", refute: true},

		// (b) the control plane, with fence_wait and with a fence command.
		{name: "controlplane/design/isolated", model: "controlplane", bound: isolated, claim: "slotsafe", refute: true},
		{name: "controlplane/fixed/all", model: "controlplane", bound: all, opts: o(fix), claim: "slotsafe"},
		{name: "controlplane/fixed/all-fencecmd", model: "controlplane", bound: all, opts: o(fix, fenceCmd), claim: "slotsafe"},
		{name: "controlplane/fixed/holder", model: "controlplane", bound: holder, opts: o(fix), claim: "slotsafe"},
		{name: "controlplane/fixed/isolated", model: "controlplane", bound: isolated, opts: o(fix), claim: "slotsafe"},
		{name: "controlplane/fixed/isolated-fencecmd", model: "controlplane", bound: isolated, opts: o(fix, fenceCmd), claim: "slotsafe"},
		{name: "controlplane/tight/design/isolated", model: "controlplane", bound: isolated, opts: o(tight), claim: "slotsafe", refute: true},
		{name: "controlplane/tight/fixed/all", model: "controlplane", bound: all, opts: o(tight, fix), claim: "slotsafe"},
		{name: "controlplane/tight/fixed/isolated", model: "controlplane", bound: isolated, opts: o(tight, fix), claim: "slotsafe"},
		{name: "controlplane/mutant/no-margin", model: "controlplane", bound: all, opts: o(fix, "MUT_NO_MARGIN"), claim: "slotsafe", refute: true},
		{name: "controlplane/mutant/release-first", model: "controlplane", bound: one, opts: o(fix, "MUT_RELEASE_FIRST"), claim: "slotsafe", refute: true},
		{name: "controlplane/mutant/own-lease", model: "controlplane", bound: one, opts: o(fix, "MUT_OWN_LEASE"), claim: "slotsafe", refute: true},
	}
}

// memLimitMB bounds each search's memory; a search that needs more fails (it is not complete).
const memLimitMB = 3072

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
	for _, r := range runs() {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			check(t, r)
		})
	}
}

func (r run) flags() []string {
	var out []string
	for _, d := range append(append([]string(nil), r.opts...), r.bound.defs...) {
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

func check(t *testing.T, r run) {
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
	pml := r.model + ".pml"
	if _, err := command(ctx, dir, "spin", append(append([]string{"-a"}, r.flags()...), pml)...); err != nil {
		t.Fatal(err)
	}
	cflags := []string{"-w", fmt.Sprintf("-DMEMLIM=%d", memLimitMB), "-o", "pan", "pan.c"}
	pan := []string{fmt.Sprintf("-m%d", maxDepth), "-N", r.claim}
	switch {
	case r.live:
		cflags = append([]string{"-DCOLLAPSE"}, cflags...)
		pan = append(pan, "-a", "-f")
	case r.refute:
		cflags = append([]string{"-DSAFETY"}, cflags...)
	default:
		cflags = append([]string{"-DSAFETY", "-DCOLLAPSE"}, cflags...)
	}
	// gcc -O2 takes longer on pan.c than most searches; -Os runs the big ones as fast.
	cflags = append([]string{"-O0"}, cflags...)
	if r.bound.big {
		cflags[0] = "-Os"
	}
	if _, err := command(ctx, dir, "gcc", cflags...); err != nil {
		t.Fatal(err)
	}
	out, err := command(ctx, dir, "./pan", pan...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out))
	}
	t.Logf("%s %v: %d states, depth %d, %.0f MB, %.1f s, errors %d", r.model, r.flags(), res.states, res.depth, res.memMB, res.seconds, res.errors)
	for _, bad := range []string{"max search depth too small", "out of memory", "MEMLIM"} {
		if strings.Contains(out, bad) && !(r.refute && res.errors > 0) {
			t.Fatalf("the search is not complete (%s)\n%s", bad, tail(out))
		}
	}
	if !r.refute {
		if res.errors != 0 {
			t.Fatalf("%s is violated: replay with spin -t %s %s\n%s", r.claim, strings.Join(r.flags(), " "), pml, replay(ctx, t, dir, r))
		}
		return
	}
	if res.errors == 0 {
		t.Fatalf("no counter-example to %s: the mutant or finding is no longer refuted", r.claim)
	}
	events := replay(ctx, t, dir, r)
	if !strings.Contains(events, "assertion violated") && !strings.Contains(events, "acceptance cycle") {
		t.Fatalf("the trail does not replay to a violation of %s:\n%s", r.claim, events)
	}
	t.Logf("counter-example to %s:\n%s", r.claim, events)
}

// replay follows the trail pan wrote and returns the events the model prints, with the
// violation.
func replay(ctx context.Context, t *testing.T, dir string, r run) string {
	pml := r.model + ".pml"
	args := append(append([]string{"-T", "-k", pml + ".trail"}, r.flags()...), pml)
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
