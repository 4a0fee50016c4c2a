package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/benchvm"
	"mdcluster.dev/internal/faults"
	"mdcluster.dev/internal/faults/workload"
	"mdcluster.dev/internal/vmlab"
)

// runWorkload is `mdlab workload` (guest): the fault campaign's writers and samplers.
func runWorkload(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	node := fs.Int("node", 0, "node id")
	epoch := fs.Int("epoch", 0, "the host's count of workload processes on this node")
	targets := fs.String("targets", "", "TAG:UUID:OFFSET:BLOCKS[,…] (UUID in md's sysfs form)")
	tokens := fs.String("tokens", "/run/mdcluster/tokens.jsonl", "the agent's fencing-token log")
	roundFile := fs.String("round-file", "/tmp/workload.round", "file holding the current round")
	interval := fs.Duration("interval", 20*time.Millisecond, "pause between two writes of one writer")
	hold := fs.Bool("hold", false, "keep md devices open between writes")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	ts, err := parseTargets(*targets)
	if err != nil || *node < 1 || *epoch < 1 {
		return usageError(fmt.Sprintf("workload: want -node, -epoch and -targets (%v)", err))
	}
	port, err := workload.FindPort(vmlab.StreamPortName)
	if err != nil {
		return err
	}
	return workload.Run(ctx, workload.Config{Node: *node, Epoch: *epoch, Port: port, Targets: ts, TokenLog: *tokens,
		RoundFile: *roundFile, Interval: *interval, Hold: *hold})
}

func parseTargets(s string) ([]workload.Target, error) {
	var out []workload.Target
	for _, t := range strings.Split(s, ",") {
		f := strings.Split(t, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("target %q: want TAG:UUID:OFFSET:BLOCKS", t)
		}
		off, err1 := strconv.ParseInt(f[2], 0, 64)
		n, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || off < 0 || off%4096 != 0 || n < 1 {
			return nil, fmt.Errorf("target %q: bad offset or block count", t)
		}
		out = append(out, workload.Target{Tag: f[0], UUID: f[1], Offset: off, Blocks: n})
	}
	return out, nil
}

// runVerify is `mdlab verify DEV OFFSET BLOCKS` (guest): one JSON line per written block.
func runVerify(args []string) error {
	if len(args) != 3 {
		return usageError("verify: want DEV OFFSET BLOCKS")
	}
	off, err1 := strconv.ParseInt(args[1], 0, 64)
	n, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || n < 1 {
		return usageError("verify: bad OFFSET or BLOCKS")
	}
	return workload.Verify(args[0], off, n, os.Stdout)
}

// runFaults is `mdlab faults` (host): the fault campaign. Without -seed a random seed is drawn
// and printed first, so any run can be reproduced. It exits 1 when the campaign found a
// violation or could not run to its end.
func runFaults(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	seed := fs.Uint64("seed", 0, "the seed of the fault schedule (0: a random one)")
	rounds := fs.Int("rounds", 0, "rounds to run (0: as many as -duration allows)")
	first := fs.Int("first", 1, "number of the first round (run a later segment of a seed's schedule)")
	duration := fs.Duration("duration", 0, "time box for the whole campaign, set-up and final check included")
	ttl := fs.Duration("ttl", 10*time.Second, "leases.ttl of the agents")
	margin := fs.Duration("margin", 4*time.Second, "leases.watchdog_margin of the agents")
	kinds := fs.String("kinds", "", "faults to draw from, comma separated (default all: "+kindList()+")")
	out := fs.String("out", "", "directory for the histories and report.json (default a new one under $TMPDIR)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *rounds == 0 && *duration == 0 {
		return usageError("faults: give -rounds or -duration")
	}
	o := faults.Options{Seed: *seed, Rounds: *rounds, FirstRound: *first, Duration: *duration, TTL: *ttl, Margin: *margin,
		Out: *out, Log: os.Stdout}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	for _, k := range strings.Split(*kinds, ",") {
		if k != "" {
			if !slices.Contains(faults.Kinds, faults.Kind(k)) {
				return usageError("faults: unknown fault " + strconv.Quote(k))
			}
			o.Kinds = append(o.Kinds, faults.Kind(k))
		}
	}
	if o.Out == "" {
		d, err := os.MkdirTemp("", fmt.Sprintf("mdfaults-%d-", o.Seed))
		if err != nil {
			return err
		}
		o.Out = d
	}
	fmt.Printf("mdlab faults: seed %d (reproduce with -seed %d), histories in %s\n", o.Seed, o.Seed, o.Out)
	rep, err := faults.Run(ctx, o)
	if err != nil {
		return err
	}
	if n := len(rep.Violations); n > 0 {
		return fmt.Errorf("%d violation(s) with seed %d: see %s/report.json", n, o.Seed, o.Out)
	}
	return nil
}

func kindList() string {
	var s []string
	for _, k := range faults.Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ",")
}

// runBench is `mdlab bench` (host): the figures on the real kernel, as JSON on stdout.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	pairs := fs.Int("pairs", 9, "throughput: interleaved runs with and without the agent")
	mib := fs.Int("mib", 96, "throughput: MiB written per pass (4 passes a run)")
	idle := fs.Duration("idle", 30*time.Second, "footprint: how long the idle agent is watched")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	f, err := benchvm.Run(ctx, benchvm.Options{Log: os.Stderr, Pairs: *pairs, WriteMiB: *mib, Idle: *idle})
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	fmt.Println(string(b))
	fmt.Fprintf(os.Stderr, "resync after a crash: %.3f of the dirty bytes (bound %.3f); write throughput with/without the agent: %.3f; idle agent: %v\n",
		f.Resync.Ratio, f.Resync.Bound, f.Throughput.Ratio, f.Footprint)
	if f.Resync.Ratio > f.Resync.Bound || f.Throughput.Ratio < 0.98 {
		return fmt.Errorf("a figure misses its target (resync ≤ %.3f, throughput ≥ 0.98)", f.Resync.Bound)
	}
	return nil
}
