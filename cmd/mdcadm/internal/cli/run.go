// Package cli is mdcadm's command line: mdadm 4.2's syntax and modes, of
// which the read-only ones (--examine, --examine-bitmap, --query, --detail,
// --detail --scan, --examine --scan) are implemented in pure Go with
// mdadm's output, and the others are recognised and refused.
package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

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
}

// DefaultEnv returns the Env of the running process.
func DefaultEnv() *Env {
	h, _ := os.Hostname()
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Root: "/", Euid: os.Geteuid(),
		Location: time.Local, Hostname: h}
}

func (e *Env) path(p string) string { return filepath.Join(e.Root, p) }

// errf prints an mdadm-style message ("mdadm: ...") on stderr.
func (e *Env) errf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, Name+": "+format, a...)
}

// Run runs mdcadm with args (without the program name) and returns the
// exit code.
func Run(args []string, env *Env) int {
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
	return run(c, env)
}

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
		c.Homehost = confHomehost(env, c.ConfigFile)
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
	r := &runner{c: c, env: env, out: &out}
	rc := r.misc()
	env.Stdout.Write(out.Bytes())
	return rc
}

// unimplemented returns why c cannot run in this build, or "".
func unimplemented(c *Config) string {
	if c.Mode != ModeMisc {
		return fmt.Sprintf("--%s mode is not implemented yet (this build runs only --examine, --examine-bitmap, --detail and --query)", c.Mode)
	}
	if c.DevMode != 0 && !implementedActions[c.DevMode] {
		return fmt.Sprintf("%s is not implemented yet (this build runs only --examine, --examine-bitmap, --detail and --query)", codeName(c.DevMode))
	}
	for _, d := range c.Devices {
		if d.Disposition != 0 && !implementedActions[d.Disposition] {
			return fmt.Sprintf("%s is not implemented yet (this build runs only --examine, --examine-bitmap, --detail and --query)", codeName(d.Disposition))
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

// runner runs the misc mode actions.
type runner struct {
	c    *Config
	env  *Env
	out  *bytes.Buffer
	devs []devEntry // /dev, read once
}

// misc is mdadm's MISC case of main() with misc_list.
func (r *runner) misc() int {
	c := r.c
	if c.DevMode == 'E' {
		devs := c.Devices
		if len(devs) == 0 && !c.Scan {
			r.env.errf("No devices to examine\n")
			return 2
		}
		if len(devs) == 0 {
			devs = r.confDevices(c.ConfigFile)
		}
		if len(devs) == 0 {
			r.env.errf("No devices listed in %s\n", confName(c.ConfigFile))
			return 1
		}
		return r.examine(devs)
	}
	if len(c.Devices) == 0 {
		if c.DevMode == 'D' && c.Scan {
			return r.detailScan()
		}
		r.env.errf("No devices given.\n")
		return 2
	}
	rc := 0
	for _, d := range c.Devices {
		switch d.Disposition {
		case 'D':
			rc |= r.detail(d.Name)
		case 'Q':
			rc |= r.query(d.Name)
		case 'X':
			rc |= r.examineBitmap(d.Name)
		default: // no action: mdadm only opens the array
			if m, err := openMember(d.Name); err != nil || !m.blk || r.env.mdName(m.rdev) == "" {
				r.env.errf("%s does not appear to be an md device\n", d.Name)
				rc |= 1
			} else {
				m.Close()
			}
		}
	}
	return rc
}
