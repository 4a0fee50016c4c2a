package main

import (
	"context"
	"fmt"
	"log/slog"

	"mdcluster.dev/mdcluster/agent"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/metrics"
)

// serveAgentMetrics serves the agent's /metrics on listen.metrics (with the exporter-toolkit
// web config in listen.metrics_web_config): md and bitmap figures, DLM lockspaces, and the
// agent's own view. It returns once the registry is built; serving ends with ctx.
func serveAgentMetrics(ctx context.Context, cfg *config.Config, ag *agent.Agent, log *slog.Logger) error {
	fs, err := md.NewDefaultFS()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	log = log.With("component", "metrics")
	set := metrics.NewSet(log).
		AddMD(metrics.MDOptions{FS: fs, NodeCompat: true, DevDir: "/dev", BitmapTTL: metrics.DefaultBitmapTTL, KernelLog: "/dev/kmsg"}).
		AddDLM(metrics.DefaultDLMOptions("/sys")).
		AddAgent(ag)
	reg, err := metrics.NewRegistry(set)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	go func() {
		if err := metrics.Serve(ctx, cfg.Listen.Metrics, cfg.Listen.MetricsWebConfig, reg, log); err != nil {
			log.Error("metrics endpoint stopped", "listen", cfg.Listen.Metrics, "err", err)
		}
	}()
	log.Info("serving metrics", "listen", cfg.Listen.Metrics)
	return nil
}
