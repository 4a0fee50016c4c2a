package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

// reloadCommand is `mdclusterd reload`, the unit's ExecReload. Sending SIGHUP alone made
// `systemctl reload` return while the new binary was still starting: a script that ran mdcadm
// right after it met no agent, and a refused reload (a configuration the new binary rejects)
// looked like a success. This command checks the configuration with the installed binary
// first, signals the agent, and returns only when the new process answers on the API socket
// with its session, or fails saying why.
func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "run the installed binary in place of the running agent and wait until it answers (systemctl reload)",
		Flags: []cli.Flag{
			// systemd sets MAINPID in ExecReload's environment (empty when the service has no
			// main process: then this refuses, exit 2).
			&cli.IntFlag{Name: "pid", EnvVars: []string{"MAINPID"}, Usage: "the running agent's PID (default: $MAINPID, as systemd sets it)"},
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "/etc/mdcluster/mdclusterd.yaml", Usage: "configuration file"},
			&cli.StringFlag{Name: "socket", Usage: "the running agent's API socket (default: the configuration's listen.api_socket)"},
			// Under systemd's reload timeout (TimeoutStartSec, 90 s by default), so that this
			// command's reason, not systemd's kill, ends a reload that does not come back.
			&cli.DurationFlag{Name: "timeout", Value: 80 * time.Second, Usage: "how long to wait for the new process to answer"},
		},
		Action: func(c *cli.Context) error {
			if c.Int("pid") <= 1 {
				return cli.Exit(fmt.Sprintf("mdclusterd reload: --pid %d: want the agent's PID (or $MAINPID)", c.Int("pid")), 2)
			}
			if c.Duration("timeout") <= 0 {
				return cli.Exit(fmt.Sprintf("mdclusterd reload: --timeout %s: want a positive duration", c.Duration("timeout")), 2)
			}
			cfgPath := c.String("config")
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return cli.Exit("mdclusterd reload: refused, the running agent is unchanged: "+err.Error(), 1)
			}
			pid := c.Int("pid")
			socket := cfg.Listen.APISocket
			if c.String("socket") != "" {
				socket = c.String("socket")
			}
			r := reloader{
				check:   func(ctx context.Context) error { return checkInstalled(ctx, cfgPath) },
				status:  api.NewClient(socket).Status,
				signal:  func() error { return syscall.Kill(pid, syscall.SIGHUP) },
				poll:    200 * time.Millisecond,
				timeout: c.Duration("timeout"),
				what:    fmt.Sprintf("the agent (PID %d, socket %s)", pid, socket),
			}
			st, err := r.reload(c.Context)
			if err != nil {
				return cli.Exit("mdclusterd reload: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "mdclusterd reload: the new process answers (started %s, session valid, %d array(s))\n",
				st.Started.Format(time.RFC3339Nano), len(st.Arrays))
			return nil
		},
	}
}

// checkInstalled runs the installed binary's check-config, what the agent itself runs before it
// executes that binary.
func checkInstalled(ctx context.Context, cfgPath string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the installed binary: %w", err)
	}
	return checkNewBinary(ctx, exe, cfgPath)
}

// reloader is one reload, its effects injected for the tests.
type reloader struct {
	check   func(context.Context) error
	status  func(context.Context) (api.Status, error)
	signal  func() error
	poll    time.Duration
	timeout time.Duration
	what    string // names the agent in errors
}

// reload refuses when the installed binary rejects the configuration or the running agent does
// not answer (nothing is signalled then), and otherwise waits until a process with another start
// time answers with a valid session.
func (r reloader) reload(ctx context.Context) (api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.check(ctx); err != nil {
		return api.Status{}, fmt.Errorf("refused, the running agent is unchanged: %w", err)
	}
	before, err := r.status(ctx)
	if err != nil {
		return api.Status{}, fmt.Errorf("refused: %s does not answer, so a reload could not be told from a failed start (systemctl restart mdclusterd, or see its journal): %w", r.what, err)
	}
	if err := r.signal(); err != nil {
		return api.Status{}, fmt.Errorf("signal %s: %w", r.what, err)
	}
	t := time.NewTicker(r.poll)
	defer t.Stop()
	last := "it still answers as the old process"
	for {
		select {
		case <-ctx.Done():
			return api.Status{}, fmt.Errorf("%s did not answer as a new process with its session within %s (%s): see journalctl -u mdclusterd", r.what, r.timeout, last)
		case <-t.C:
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := r.status(sctx)
		scancel()
		switch {
		case err != nil:
			last = "last answer: " + err.Error()
		case st.Started.Equal(before.Started):
			last = "it still answers as the old process"
		case !st.Session.Valid:
			last = "the new process has no session yet"
		default:
			return st, nil
		}
	}
}
