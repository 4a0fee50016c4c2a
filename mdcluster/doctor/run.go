package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"mdcluster.dev/mdcluster/config"
)

// Run is one doctor run on this node: it gathers the local facts, measures the lock service
// and the clocks, publishes the facts, and evaluates them with the other nodes' latest
// reports. Without a reachable lock service the cluster-wide checks see this node alone (and
// say which nodes did not report).
func Run(ctx context.Context, h Host, cfg *config.Config, version string) []Result {
	f := Gather(ctx, h, cfg, version)
	if cfg.LockEngine.Type == config.EngineCluster {
		_, el := cfg.LockEngine.RaftTiming()
		f.ElectionTimeout = Duration{el}
	}
	f.Clock = Clocks(ctx, cfg)
	var reports []Facts
	var expect []string
	for _, p := range cfg.LockEngine.Peers {
		expect = append(expect, p.Name)
	}
	e, err := OpenEtcd(cfg)
	if err != nil {
		f.Lock.Err = err.Error()
	} else {
		defer e.Close()
		f.Lock = e.Lock(ctx)
		if f.Lock.Quorum {
			if err := e.Publish(ctx, f); err != nil {
				f.Lock.Err = "publish this node's report: " + err.Error()
			}
			if reports, err = e.Reports(ctx); err != nil {
				f.Lock.Err = "read the other nodes' reports: " + err.Error()
			}
		}
	}
	return Evaluate(f, reports, expect, time.Now())
}

// WriteTable prints the results as a table: check, node, result, what to do.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tNODE\tRESULT\tWHAT TO DO")
	for _, r := range rs {
		advice := r.Advice
		if advice == "" {
			advice = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s: %s\t%s\n", r.Check, r.Node, r.Status, oneLine(r.Detail), oneLine(advice))
	}
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
