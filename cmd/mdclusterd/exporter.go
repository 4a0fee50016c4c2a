package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/metrics"
)

// exporterCommand is "mdclusterd exporter": the md, bitmap and DLM figures without the agent's
// cluster role, for hosts that only need monitoring.
func exporterCommand() *cli.Command {
	return &cli.Command{
		Name:  "exporter",
		Usage: "serve md, bitmap and DLM metrics for Prometheus (no cluster role)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:9810", Usage: "host:port to serve /metrics on"},
			&cli.StringFlag{Name: "web.config.file", Usage: "exporter-toolkit web config (TLS, basic auth)"},
			&cli.StringFlag{Name: "sysfs", Value: "/sys", Usage: "sysfs mount point"},
			&cli.StringFlag{Name: "procfs", Value: "/proc", Usage: "procfs mount point"},
			&cli.StringFlag{Name: "dev", Value: "/dev", Usage: "block device directory for bitmap reads (\"\" turns them off)"},
			&cli.StringFlag{Name: "kmsg", Value: "/dev/kmsg", Usage: "kernel log read for this node's md-cluster slots (\"\" turns it off)"},
			&cli.DurationFlag{Name: "bitmap.ttl", Value: metrics.DefaultBitmapTTL, Usage: "how long a bitmap read from disk is reused"},
			&cli.BoolFlag{Name: "collector.node-md", Value: true, Usage: "also export node_exporter's node_md_* figures"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: runExporter,
	}
}

func runExporter(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cli.Exit(fmt.Sprintf("mdclusterd exporter: --log-level %q: want debug, info, warn or error", c.String("log-level")), 2)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})).With("component", "exporter")
	root, cleanup, err := mdRoot(c.String("sysfs"), c.String("procfs"))
	if err != nil {
		return cli.Exit("mdclusterd exporter: "+err.Error(), 1)
	}
	defer cleanup()
	fs, err := md.NewFS(root)
	if err != nil {
		return cli.Exit("mdclusterd exporter: "+err.Error(), 1)
	}
	set := metrics.NewSet(log).
		AddMD(metrics.MDOptions{FS: fs, NodeCompat: c.Bool("collector.node-md"), DevDir: c.String("dev"),
			BitmapTTL: c.Duration("bitmap.ttl"), KernelLog: c.String("kmsg")}).
		AddDLM(metrics.DefaultDLMOptions(c.String("sysfs")))
	reg, err := metrics.NewRegistry(set)
	if err != nil {
		return cli.Exit("mdclusterd exporter: "+err.Error(), 1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("serving metrics", "listen", c.String("listen"), "sysfs", c.String("sysfs"), "procfs", c.String("procfs"))
	if err := metrics.Serve(ctx, c.String("listen"), c.String("web.config.file"), reg, log); err != nil {
		return cli.Exit("mdclusterd exporter: "+err.Error(), 1)
	}
	return nil
}

// mdRoot returns a root for md.NewFS with sys and proc below it: the common parent when the
// mount points are <dir>/sys and <dir>/proc, else a temporary directory of two symlinks that
// cleanup removes.
func mdRoot(sysfs, procfs string) (string, func(), error) {
	sysfs, procfs = filepath.Clean(sysfs), filepath.Clean(procfs)
	if filepath.Dir(sysfs) == filepath.Dir(procfs) && filepath.Base(sysfs) == "sys" && filepath.Base(procfs) == "proc" {
		return filepath.Dir(sysfs), func() {}, nil
	}
	dir, err := os.MkdirTemp("", "mdclusterd-exporter-")
	if err != nil {
		return "", nil, fmt.Errorf("root for --sysfs and --procfs: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	for name, target := range map[string]string{"sys": sysfs, "proc": procfs} {
		abs, err := filepath.Abs(target)
		if err == nil {
			err = os.Symlink(abs, filepath.Join(dir, name))
		}
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("root for --sysfs and --procfs: %w", err)
		}
	}
	return dir, cleanup, nil
}
