// Package cli is mdcadm's command line: mdadm 4.2's syntax and modes. The
// read-only ones (--examine, --examine-bitmap, --query, --detail, --detail
// --scan, --examine --scan) run in pure Go with mdadm's output.
//
// The changing modes (--create, --assemble, --manage, --grow, --incremental,
// and --stop, --run, --readonly, --readwrite) run the real mdadm (`mdadm` in
// PATH, else /sbin/mdadm) with exactly the same arguments, guarded by the
// local mdclusterd:
//
//   - Leases first: create, assemble, incremental and --run of an exclusive
//     array take its activation lease; --add, --re-add, --add-spare and
//     --replace take the recovery lease (the agent then keeps it until md's
//     rebuild ends); --grow takes the admin lease, given back when mdadm
//     exits. The array is found by --uuid, --name or /dev/md/NAME, the
//     members' superblocks (create also guards every managed array whose
//     superblock it would overwrite), or the running md device's sysfs uuid.
//   - Refusals: when the agent does not answer, a lease is held elsewhere or
//     the array cannot be identified, mdcadm prints one line naming the
//     reason and the holder, does not run mdadm, and exits 1 (2 for usage
//     errors, as mdadm).
//   - md-cluster limits: on a clustered array, the changes md-cluster
//     does not carry to the other nodes (chunk, layout, level, data
//     offset, --array-size, bitmap and consistency policy changes, fewer
//     RAID10 devices, write-mostly and failfast flags) are refused with
//     one line and exit 1 before anything else: the nodes would disagree
//     where data lives (see clusterlimits.go).
//   - Unmanaged arrays (not in the agent's config) are refused: on shared
//     disks an unguarded assemble is exactly how two nodes corrupt an array.
//     --no-cluster-guard (mdcadm's own option) runs mdadm without asking the
//     agent for leases (only, where the libcmap shim is installed, for its
//     status: see shimEnv).
//   - Cluster facts (name, lock engine, DLM control plane, arrays and their
//     modes, lease holders) come from the agent's status API on its socket
//     (--agent-socket=PATH, $MDCLUSTER_SOCKET, /run/mdcluster/mdclusterd.sock),
//     never from its configuration file. Commands that only make this node do less (--stop,
//     --readonly, --fail, --remove, --incremental --fail, --rebuild-map) run
//     on unmanaged arrays and without the agent.
//   - Signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP do not kill mdcadm
//     while it guards a command. Before mdadm runs, they end the wait and
//     the leases go back (exit 128+signal, no mdadm). While mdadm runs,
//     mdadm gets the same signal from mdcadm (Ctrl-C's SIGINT also comes
//     from the terminal) and mdcadm waits for it to exit, then gives the
//     leases back as after any mdadm failure.
//   - After --stop of an exclusive array the activation lease goes back to
//     the agent, so another node can take the array over.
//   - Kernel DLM clusters (lock_engine.type kernel-dlm): mdcadm also takes
//     mdadm's own admin lock bitmap<cluster> (EX, userspace lockspace named
//     after the cluster) so that mdcadm and plain mdadm exclude each other,
//     and releases it when mdadm exits. mdadm 4.2 takes that lock itself for
//     --create --bitmap=clustered and for --manage/--grow of a clustered
//     array (not --cluster-confirm); mdcadm does not take it then, since its
//     child would wait on it forever.
//
// `mdcadm --cluster-status [--json]` shows the agent's members, arrays,
// leases and resyncs and the bitmap slots (dirty chunks) of every array
// assembled here or with members here.
package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
	"mdcluster.dev/internal/buildinfo"
)

// Name prefixes the messages mdcadm shares with mdadm, exactly as mdadm
// prints them, so that scripts which read mdadm's messages keep working.
const Name = "mdadm"

// Prog is the program name in getopt's messages and mdcadm's own ones.
const Prog = "mdcadm"

// Env is what a run reads and writes besides its arguments. Tests replace
// the parts they need.
type Env struct {
	Stdout, Stderr io.Writer
	// Root prefixes /sys, /proc, /dev and /run (normally "/").
	Root string
	// Euid is the effective user id; mdadm refuses most modes to non-root.
	Euid int
	// Location is the time zone of printed times (mdadm: the local zone).
	Location *time.Location
	// Hostname is the default home host.
	Hostname string
	// Socket is the agent's API socket.
	Socket string
	// Mdadm is the real mdadm to run ("": found in PATH or /sbin).
	Mdadm string
	// ShimDir is the directory of the libcmap shim (see shimEnv).
	ShimDir string
	// AdminLock takes mdadm's admin lock bitmap<cluster> on kernel-DLM
	// clusters and returns its release (nil: never taken).
	AdminLock func(ctx context.Context, cluster string) (func(), error)
}

// DefaultEnv returns the Env of the running process.
func DefaultEnv() *Env {
	h, _ := os.Hostname()
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Root: "/", Euid: os.Geteuid(),
		Location: time.Local, Hostname: h, Socket: cmp.Or(os.Getenv(SocketEnv), DefaultSocket),
		AdminLock: KernelAdminLock, ShimDir: DefaultShimDir}
}

func (e *Env) path(p string) string { return filepath.Join(e.Root, p) }

// errf prints an mdadm-style message ("mdadm: ...") on stderr.
func (e *Env) errf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, Name+": "+format, a...)
}

// Run runs mdcadm with args (without the program name) and returns the
// exit code.
func Run(args []string, env *Env) int {
	args, own, err := ownOptions(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
		return 2
	}
	if own.socket != "" {
		env.Socket = own.socket
	}
	noGuard, status := own.noGuard, own.status
	if status {
		return clusterStatus(args, env)
	}
	c, err := Parse(args)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			io.WriteString(env.Stderr, ee.msg)
			return ee.code
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
		return 2
	}
	if c.Version || c.Help != 0 || !changing(c) {
		if noGuard {
			fmt.Fprintf(env.Stderr, "%s: --no-cluster-guard applies only to modes that change arrays\n", Prog)
			return 2
		}
		return run(c, env)
	}
	return guarded(c, args, noGuard, env)
}

// own are mdcadm's own options, which mdadm does not know.
type own struct {
	noGuard bool   // --no-cluster-guard
	status  bool   // --cluster-status
	socket  string // --agent-socket=PATH
}

// ownOptions takes mdcadm's own options out of args (before any "--"):
// --no-cluster-guard, --agent-socket=PATH, and --cluster-status which
// makes the rest of args its own options.
func ownOptions(args []string) (rest []string, o own, err error) {
	for i, a := range args {
		switch {
		case a == "--":
			return append(rest, args[i:]...), o, nil
		case a == "--no-cluster-guard":
			o.noGuard = true
		case a == "--cluster-status":
			o.status = true
		case strings.HasPrefix(a, "--agent-socket="):
			if o.socket = strings.TrimPrefix(a, "--agent-socket="); o.socket == "" {
				return nil, o, errors.New("--agent-socket needs a path: --agent-socket=PATH")
			}
		case a == "--agent-socket":
			return nil, o, errors.New("--agent-socket needs a path: --agent-socket=PATH")
		default:
			rest = append(rest, a)
		}
	}
	if o.status && o.noGuard {
		return nil, o, errors.New("--no-cluster-guard cannot be combined with --cluster-status")
	}
	return rest, o, nil
}

// changing reports whether c changes arrays: mdcadm then runs the real
// mdadm under the agent's leases.
func changing(c *Config) bool {
	switch c.Mode {
	case ModeCreate, ModeAssemble, ModeManage, ModeGrow, ModeIncremental:
		return true
	case ModeMisc:
		g := false
		for _, d := range c.Devices {
			if !guardedActions[d.Disposition] && !implementedActions[d.Disposition] {
				return false // --zero-superblock and the like: not implemented yet
			}
			g = g || guardedActions[d.Disposition]
		}
		return g || c.Scan && len(c.Devices) == 0 && guardedActions[c.DevMode]
	}
	return false
}

// guardedActions are the misc actions that run mdadm under the guard.
var guardedActions = map[int]bool{'S': true, 'R': true, 'o': true, 'w': true}

func run(c *Config, env *Env) int {
	switch {
	case c.Version:
		fmt.Fprintln(env.Stderr, buildinfo.String(Prog))
		return 0
	case c.Help == 3:
		io.WriteString(env.Stdout, helpConfig)
		return 0
	case c.Help == 2:
		io.WriteString(env.Stdout, helpOptions)
		return 0
	case c.Help == 1:
		io.WriteString(env.Stdout, help(c.Mode))
		return 0
	}
	if msg := unimplemented(c); msg != "" {
		fmt.Fprintf(env.Stderr, "%s: %s\n", Prog, msg)
		return 2
	}
	if c.JSON && c.Export {
		fmt.Fprintf(env.Stderr, "%s: --json cannot be combined with --export\n", Prog)
		return 2
	}
	if c.DevMode != 'E' && env.Euid != 0 {
		env.errf("must be super-user to perform this action\n")
		return 1
	}
	if c.Homehost == "" && c.RequireHomehost && !c.HomehostOK {
		c.Homehost = mdadmview.ConfHomehost(env.Root, c.ConfigFile)
	}
	if c.Homehost == "" || c.Homehost == "<system>" {
		c.Homehost = env.Hostname
	}
	if c.Homehost == "<none>" {
		c.Homehost = ""
	}
	if c.Metadata != "" && !v1Metadata(c.Metadata) {
		fmt.Fprintf(env.Stderr, "%s: metadata %s is not supported; mdcadm reads md v1.x superblocks only\n", Prog, c.Metadata)
		return 1
	}
	// Output is buffered so that a run's stdout is written in one piece,
	// as mdadm's stdio does when stdout is not a terminal.
	var out bytes.Buffer
	rc := mdadmview.Run(mdadmview.Env{Root: env.Root, Location: env.Location, Stderr: env.Stderr}, c.viewRequest(), &out)
	env.Stdout.Write(out.Bytes())
	return rc
}

// viewRequest is the read-only part of c, for mdadmview.
func (c *Config) viewRequest() *mdadmview.Request {
	return &mdadmview.Request{DevMode: c.DevMode, Devices: c.Devices, Scan: c.Scan, Brief: c.Brief, Export: c.Export,
		JSON: c.JSON, NoDevices: c.NoDevices, Test: c.Test, Verbose: c.Verbose, ConfigFile: c.ConfigFile,
		Homehost: c.Homehost, Prefer: c.Prefer}
}

// notYet lists what this build runs, for the "not implemented" message.
const notYet = "this build runs the read-only modes, --create, --assemble, --manage, --grow, --incremental, --stop, --run, --readonly and --readwrite"

// unimplemented returns why c cannot run in this build, or "".
func unimplemented(c *Config) string {
	if c.Mode != ModeMisc {
		return fmt.Sprintf("--%s mode is not implemented yet (%s)", c.Mode, notYet)
	}
	if c.DevMode != 0 && !implementedActions[c.DevMode] {
		return fmt.Sprintf("%s is not implemented yet (%s)", codeName(c.DevMode), notYet)
	}
	for _, d := range c.Devices {
		if d.Disposition != 0 && !implementedActions[d.Disposition] {
			return fmt.Sprintf("%s is not implemented yet (%s)", codeName(d.Disposition), notYet)
		}
	}
	if c.Test && c.DevMode != 'D' {
		return "--test is implemented only with --detail"
	}
	return ""
}

func v1Metadata(s string) bool {
	switch s {
	case "1", "1.0", "1.1", "1.2", "1.00", "1.01", "1.02", "01.00", "01.01", "01.02", "default":
		return true
	}
	return false
}
