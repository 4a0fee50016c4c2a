// Command mdclusterd is mdcluster's per-server agent.
//
//	mdclusterd run --config /etc/mdcluster/mdclusterd.yaml
//	mdclusterd check-config /etc/mdcluster/mdclusterd.yaml
//	mdclusterd events [--follow] [--since N] [--json]
//	mdclusterd doctor [--json]
//	mdclusterd tls init-ca DIR; mdclusterd tls issue --ca DIR --out DIR NAME HOST...
//	mdclusterd version
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/urfave/cli/v2"

	"mdcluster.dev/internal/buildinfo"
	"mdcluster.dev/mdcluster/agent"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	code := 0
	app := &cli.App{
		Name:      "mdclusterd",
		Usage:     "cluster agent for Linux md RAID on shared disks",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			runCommand(stderr),
			checkConfigCommand(),
			reloadCommand(),
			statusCommand(),
			eventsCommand(),
			exporterCommand(),
			tlsCommand(),
			udevCommand(),
			doctorCommand(),
			versionCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("mdclusterd: "+err.Error(), 2)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "mdclusterd: unknown command %q\n", name)
			code = 2
		},
		ExitErrHandler: func(c *cli.Context, err error) {
			if ec, ok := err.(cli.ExitCoder); ok {
				if ec.Error() != "" {
					fmt.Fprintln(stderr, ec.Error())
				}
				code = ec.ExitCode()
			}
		},
	}
	usageExit2(app.Commands, app.OnUsageError)
	if err := app.Run(args); err != nil {
		if code == 0 {
			fmt.Fprintln(stderr, "mdclusterd:", err)
			code = 1
		}
	}
	return code
}

// runCommand is `mdclusterd run`: the agent.
func runCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the agent",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "/etc/mdcluster/mdclusterd.yaml", Usage: "configuration file"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error { return runAgent(c, stderr) },
	}
}

// checkConfigCommand is `mdclusterd check-config FILE`.
func checkConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "check-config",
		Usage:     "validate a configuration file and exit",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("mdclusterd check-config: want exactly one FILE", 2)
			}
			cfg, err := config.Load(c.Args().First())
			if err != nil {
				return cli.Exit("mdclusterd: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "%s: OK (node %s, cluster %s, %d array(s), lock engine %s)\n",
				c.Args().First(), cfg.Node.Name, cfg.Cluster.Name, len(cfg.Arrays), cfg.LockEngine.Type)
			fmt.Fprintf(c.App.Writer, "%s\n", cfg.Timing())
			if w := cfg.TimingWarning(); w != "" {
				fmt.Fprintf(c.App.ErrWriter, "mdclusterd: warning: %s\n", w)
			}
			return nil
		},
	}
}

// statusCommand is `mdclusterd status`: the local agent's status as JSON.
func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print the local agent's view of the cluster as JSON",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: "/run/mdcluster/mdclusterd.sock", Usage: "the agent's API socket"},
		},
		Action: func(c *cli.Context) error {
			ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
			defer cancel()
			st, err := api.NewClient(c.String("socket")).Status(ctx)
			if err != nil {
				return cli.Exit("mdclusterd status: "+err.Error(), 1)
			}
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		},
	}
}

// versionCommand is `mdclusterd version`.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and exit",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(c.App.Writer, buildinfo.String("mdclusterd"))
			return nil
		},
	}
}

// usageExit2 gives every command the app's usage error handler: urfave/cli applies the app's
// only to global flags, and a bad flag of a command exited 1 like a failure.
func usageExit2(cmds []*cli.Command, h cli.OnUsageErrorFunc) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = h
		}
		usageExit2(c.Subcommands, h)
	}
}

func runAgent(c *cli.Context, stderr io.Writer) error {
	// SIGHUP (systemctl reload) is caught first: its default action would end the agent, and a
	// reload's new process comes through here again.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cli.Exit(fmt.Sprintf("mdclusterd: --log-level %q: want debug, info, warn or error", c.String("log-level")), 2)
	}
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return cli.Exit("mdclusterd: "+err.Error(), 1)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("node", cfg.Node.Name)
	ag, err := agent.New(cfg, log)
	if err != nil {
		return cli.Exit("mdclusterd: "+err.Error(), 1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go systemdWatchdog(ctx, ag, log)
	go reexecOnHUP(ctx, hup, c.String("config"), log)
	if cfg.Listen.Metrics != "" {
		if err := serveAgentMetrics(ctx, cfg, ag, log); err != nil {
			return cli.Exit("mdclusterd: "+err.Error(), 1)
		}
	}
	ready := func(status string) {
		_, _ = daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS="+status)
		log.Info("ready", "status", status)
	}
	if err := ag.Run(ctx, ready); err != nil {
		return cli.Exit("mdclusterd: "+err.Error(), 1)
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	return nil
}

// systemdWatchdog pets systemd's service watchdog (WatchdogSec=) at half its interval, but only
// while the agent makes progress: a hung loop or pass gets the agent restarted.
func systemdWatchdog(ctx context.Context, ag interface{ Alive() error }, log *slog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := ag.Alive(); err != nil {
				log.Error("not petting systemd's watchdog: the agent is stuck", "err", err)
				continue
			}
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}
