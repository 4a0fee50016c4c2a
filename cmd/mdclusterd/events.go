package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/mdcluster/api"
)

// eventsCommand is `mdclusterd events [--follow] [--since N] [--json]`: the cluster's event log
// as the local agent serves it, one event a line.
func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "print the cluster's event log (leases, assemblies, stops, fences, resyncs, scrubs, mdcadm commands)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: "/run/mdcluster/mdclusterd.sock", Usage: "the agent's API socket"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new events until interrupted"},
			&cli.Int64Flag{Name: "since", Usage: "only events after this sequence number (the first column)"},
			&cli.IntFlag{Name: "limit", Usage: "print at most this many events (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object a line"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return cli.Exit("mdclusterd events: unexpected argument "+c.Args().First(), 2)
			}
			if c.Int64("since") < 0 || c.Int("limit") < 0 {
				return cli.Exit("mdclusterd events: --since and --limit must not be negative", 2)
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if !c.Bool("follow") {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Minute)
				defer cancel()
			}
			print := textEvent
			if c.Bool("json") {
				print = jsonEvent
			}
			err := api.NewClient(c.String("socket")).Events(ctx, c.Int64("since"), c.Int("limit"), c.Bool("follow"),
				func(e api.Event) error { return print(c.App.Writer, e) })
			if err != nil && !(c.Bool("follow") && ctx.Err() != nil) {
				return cli.Exit("mdclusterd events: "+err.Error(), 1)
			}
			return nil
		},
	}
}

func jsonEvent(w io.Writer, e api.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// textEvent prints "SEQ TIME NODE TYPE ARRAY REASON key=value…"; an empty column is "-".
func textEvent(w io.Writer, e api.Event) error {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	line := fmt.Sprintf("%d %s %s %s %s", e.Seq, e.Time.Local().Format("2006-01-02T15:04:05.000Z07:00"), e.Node, e.Type, dash(e.Array))
	if e.Reason != "" {
		line += " " + fmt.Sprintf("%q", e.Reason)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := e.Fields[k]
		if strings.ContainsAny(v, " \"=") || v == "" {
			v = fmt.Sprintf("%q", v)
		}
		line += " " + k + "=" + v
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
