package cli

import (
	"context"
	"fmt"
	"log/syslog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
	"mdcluster.dev/cmd/mdcadm/internal/monitor"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// daemonEnv marks the process a --daemonise started: it monitors instead of forking again.
const daemonEnv = "MDCADM_MONITOR_DAEMON"

// sendmail is the mailer (Debian's mdadm: /usr/sbin/sendmail -t).
const sendmail = "/usr/sbin/sendmail -t"

// monitorOpts are --monitor's options as given.
type monitorOpts struct {
	mail, program, pidFile, config string
	delay, increments              int
	daemonise, oneshot, test       bool
	syslog, scan, share            bool
}

// monitorOptions reads --monitor's options in order, with mdadm's complaints for the repeated
// ones (the first wins) and its exit code 2 for bad numbers.
func monitorOptions(c *Config, env *Env) (monitorOpts, int) {
	o := monitorOpts{increments: 20, share: true}
	for _, opt := range c.Options {
		switch opt.Code {
		case 'm', optEMail:
			if o.mail != "" {
				env.errf("only specify one mailaddress. %s ignored.\n", opt.Arg)
			} else {
				o.mail = opt.Arg
			}
		case 'p', optProgram:
			if o.program != "" {
				env.errf("only specify one alter program. %s ignored.\n", opt.Arg)
			} else {
				o.program = opt.Arg
			}
		case 'r', optIncrement:
			n, err := strconv.Atoi(opt.Arg)
			if err != nil || n < 1 || n > 99 {
				env.errf("please specify positive integer between 1 and 99 as rebuild increments.\n")
				return o, 2
			}
			o.increments = n
		case 'd':
			n, err := strconv.Atoi(opt.Arg)
			switch {
			case o.delay != 0:
				env.errf("only specify delay once. %s ignored.\n", opt.Arg)
			case err != nil || n < 1:
				env.errf("invalid delay: %s\n", opt.Arg)
				return o, 2
			default:
				o.delay = n
			}
		case 'f', optFork:
			o.daemonise = true
		case 'i':
			if o.pidFile != "" {
				env.errf("only specify one pid file. %s ignored.\n", opt.Arg)
			} else {
				o.pidFile = opt.Arg
			}
		case '1':
			o.oneshot, o.share = true, false
		case 't':
			o.test = true
		case 'y':
			o.syslog = true
		case optNoSharing:
			o.share = false
		case 's':
			o.scan = true
		case 'c', optConfigFile:
			o.config = opt.Arg
		}
	}
	return o, 0
}

// monitorMode is mdadm --monitor (-F), cluster-aware (see package monitor).
func monitorMode(c *Config, env *Env) int {
	o, rc := monitorOptions(c, env)
	if rc != 0 {
		return rc
	}
	var devices []string
	for _, d := range c.Devices {
		devices = append(devices, d.Name)
	}
	switch {
	case len(devices) == 0 && !o.scan:
		env.errf("Cannot monitor: need --scan or at least one device\n")
		return 1
	case o.pidFile != "" && !o.daemonise:
		env.errf("Cannot write a pid file when not in daemon mode\n")
		return 1
	case o.share && env.Euid != 0:
		env.errf("must be super-user to perform this action\n")
		return 1
	}
	conf := mdadmview.ConfMonitor(env.Root, o.config)
	if o.delay == 0 {
		o.delay = max(conf.Delay, 0)
		if o.delay == 0 {
			o.delay = 60
		}
	}
	if o.mail == "" && conf.MailAddr != "" {
		o.mail = conf.MailAddr
		if !o.scan {
			env.errf("Monitor using email address \"%s\" from config file\n", o.mail)
		}
	}
	if o.program == "" && conf.Program != "" {
		o.program = conf.Program
		if !o.scan {
			env.errf("Monitor using program \"%s\" from config file\n", o.program)
		}
	}
	if o.scan && o.mail == "" && o.program == "" && !o.syslog {
		env.errf("No mail address or alert command - not monitoring.\n")
		return 1
	}
	if o.share && oneSharer(env, o.scan) {
		return 1
	}
	if o.daemonise && os.Getenv(daemonEnv) == "" {
		return daemonise(env, o.pidFile)
	}
	if o.pidFile != "" {
		defer os.Remove(o.pidFile)
	}
	return runMonitor(env, o, conf, devices)
}

// runMonitor builds the monitor — the cluster's shared delivery when the agent answers — and
// runs it until a signal.
func runMonitor(env *Env, o monitorOpts, conf mdadmview.MonitorConf, devices []string) int {
	fs, err := md.NewFS(env.Root)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	al := &monitor.Alerter{Program: o.program, MailAddr: o.mail, MailFrom: conf.MailFrom, Stdout: env.Stdout,
		Hostname: env.Hostname, Sendmail: sendmail, Mdstat: env.path("/proc/mdstat"), Now: time.Now, Warn: env.Stderr}
	if o.syslog {
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_WARNING, Name); err == nil {
			al.Syslog = w
			defer w.Close()
		} else {
			fmt.Fprintf(env.Stderr, "%s: --syslog: %v\n", Prog, err)
		}
	}
	var cfgArrays []monitor.ConfArray
	for _, a := range conf.Arrays {
		cfgArrays = append(cfgArrays, monitor.ConfArray{Dev: a.Dev, Spares: a.Spares, SpareGroup: a.SpareGroup})
	}
	m := &monitor.Monitor{Opt: monitor.Options{Devices: devices, Scan: o.scan, Oneshot: o.oneshot, Test: o.test,
		Delay: time.Duration(o.delay) * time.Second, Increments: o.increments, Share: o.share, Config: cfgArrays},
		Read: monitor.SysReader{FS: fs, Root: env.Root}, Alert: al, Warn: env.Stderr,
		Level: func(devnm string) (string, bool) {
			a, err := fs.Array(devnm)
			return a.Level, err == nil && a.State != md.ArrayInactive && a.State != md.ArrayClear
		},
		Wait: func(ctx context.Context, d time.Duration) { monitor.WaitMdstat(ctx, env.Root, d) }}
	if o.share {
		m.MoveSpare = env.moveSpare
	}
	env.clusterDelivery(ctx, m, al)
	return m.Run(ctx)
}

// clusterDelivery makes shared (md-cluster) arrays' events go out once for the cluster through
// the local agent; without an agent every array is reported from here, as by mdadm, and says so.
func (e *Env) clusterDelivery(ctx context.Context, m *monitor.Monitor, al *monitor.Alerter) {
	cl := api.NewClient(e.Socket)
	st, err := status(cl)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: mdclusterd does not answer on %s (%s): md-cluster arrays are reported from this node too\n",
			Prog, e.Socket, errText(err))
		return
	}
	if st.Engine == config.EngineKernel {
		return // no store for cursors: as mdadm
	}
	al.Env = []string{"MDCLUSTER_NODE=" + st.Node, "MDCLUSTER_CLUSTER=" + st.Cluster}
	report := func(ev monitor.Event, uuid, id string) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		f := map[string]string{"event": ev.Name, "md_device": ev.Dev}
		if ev.Disc != "" {
			f["component"] = ev.Disc
		}
		if id != "" {
			f["event_id"] = id
		}
		_ = cl.Report(rctx, api.ReportRequest{Type: api.EventMonitorAlert, Array: uuid, Reason: ev.Name, Fields: f})
	}
	m.Report = func(ev monitor.Event, uuid string) { report(ev, uuid, "") }
	sh := &monitor.Shared{Client: cl, Node: st.Node, Owner: fmt.Sprintf("mdcadm --monitor pid %d", os.Getpid()),
		Alert: al, Warn: e.Stderr, Report: report, Resolve: monitor.SysResolve(e.Root)}
	sh.Start(ctx)
	m.Shared = sh
	lowest := st.NodeID
	for _, mb := range st.Members {
		lowest = min(lowest, mb.ID)
	}
	m.OneshotReports = st.NodeID == lowest
}

// oneSharer refuses a second spare-sharing monitor with --scan, as mdadm's autorebuild.pid
// check does (mdcadm keeps its own file, so that it runs beside mdadm's monitor).
func oneSharer(env *Env, scan bool) bool {
	path := env.path("/run/mdcluster/monitor-autorebuild.pid")
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(string(trimNL(b))); err == nil && pid != os.Getpid() {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && string(trimNL(comm)) == Prog {
				if scan {
					env.errf("Only one autorebuild process allowed in scan mode, aborting\n")
					return true
				}
				env.errf("Warning: One autorebuild process already running.\n")
			}
		}
	}
	if os.Getenv(daemonEnv) != "" || !scan {
		_ = os.MkdirAll(filepath.Dir(path), 0o700)
		_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	}
	return false
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// startDaemon starts this program again, detached (setsid, no terminal), to monitor in the
// background; tests replace it.
var startDaemon = func() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}

// daemonise starts the monitor in the background and prints its pid, or writes it to the pid
// file, as mdadm --daemonise does.
func daemonise(env *Env, pidFile string) int {
	pid, err := startDaemon()
	if err != nil {
		fmt.Fprintf(env.Stderr, "daemonise: %v\n", err)
		return 1
	}
	if pidFile == "" {
		fmt.Fprintf(env.Stdout, "%d\n", pid)
		return 0
	}
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", pid)), 0o644); err != nil {
		fmt.Fprintf(env.Stderr, "cannot create pid file: %v\n", err)
	}
	return 0
}

// moveSpare moves a spare between arrays of one spare group: removed from the donor (which
// only does less), added to the degraded array under its recovery lease, as `mdcadm --add`.
func (e *Env) moveSpare(from, to, dev string) bool {
	if rc := e.runMdadm([]string{"--manage", from, "--remove", dev}, nil, nil); rc != 0 {
		return false
	}
	if rc := Run([]string{"--manage", to, "--add", dev}, e); rc != 0 {
		// Give it back to its array rather than lose the spare.
		e.runMdadm([]string{"--manage", from, "--add", dev}, nil, nil)
		return false
	}
	return true
}
