package mdadmview

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

// Prog prefixes the messages mdadm prints, exactly as mdadm does, so that
// scripts which read them keep working.
const Prog = "mdadm"

// Device is a device name from the command line with the action in force
// when it was named (mdadm's disposition: 'D', 'Q', 'X', 'E'; 0 for none).
type Device struct {
	Name        string
	Disposition int
}

// Request is a read-only mdadm command: mdadm's misc mode with --examine,
// --examine-bitmap, --detail or --query, and the options they read.
type Request struct {
	DevMode    int // the last action option: 'E', 'D', 'Q', 'X' or 0
	Devices    []Device
	Scan       bool
	Brief      bool
	Export     bool
	JSON       bool
	NoDevices  bool
	Test       bool
	Verbose    int
	ConfigFile string // mdadm.conf for --examine --scan ("" for the default)
	Homehost   string // for "(local to host H)"
	Prefer     string // --prefer, as "/NAME/"
}

// Env is what a view reads besides the request: the root of /sys, /proc,
// /dev, /run and /etc (normally "/"), the time zone of printed times and
// where messages go.
type Env struct {
	Root     string
	Location *time.Location
	Stderr   io.Writer
}

// viewer runs one request: mdadm's misc_list for the read-only actions.
type viewer struct {
	q    *Request
	root string
	loc  *time.Location
	errw io.Writer
	out  *bytes.Buffer
	fs   md.FS
	devs []devEntry // /dev, read once
}

// Run runs q, writes its output to out and returns mdadm's exit code.
func Run(env Env, q *Request, out *bytes.Buffer) int {
	fs, err := md.NewFS(env.Root)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
		return 1
	}
	r := &viewer{q: q, root: env.Root, loc: env.Location, errw: env.Stderr, out: out, fs: fs}
	if r.loc == nil {
		r.loc = time.Local
	}
	return r.misc()
}

func (r *viewer) path(p string) string { return filepath.Join(r.root, p) }

// errf prints an mdadm-style message ("mdadm: ...") on stderr.
func (r *viewer) errf(format string, a ...any) {
	fmt.Fprintf(r.errw, Prog+": "+format, a...)
}

// devnm is the kernel name of block device rdev ("md0", "vda"), or "".
func (r *viewer) devnm(rdev uint64) string {
	return r.fs.BlockName(md.DevMajor(rdev), md.DevMinor(rdev))
}

// mdName is the md array name of a block device, "" if it is not one
// (mdadm's sysfs_init: /sys/block/<devnm>/md must be a directory).
func (r *viewer) mdName(rdev uint64) string {
	if n := r.devnm(rdev); n != "" && r.fs.IsArray(n) {
		return n
	}
	return ""
}

// misc is mdadm's MISC case of main() with misc_list.
func (r *viewer) misc() int {
	q := r.q
	if q.DevMode == 'E' {
		devs := q.Devices
		if len(devs) == 0 && !q.Scan {
			r.errf("No devices to examine\n")
			return 2
		}
		if len(devs) == 0 {
			devs = r.confDevices(q.ConfigFile)
		}
		if len(devs) == 0 {
			r.errf("No devices listed in %s\n", confName(q.ConfigFile))
			return 1
		}
		return r.examine(devs)
	}
	if len(q.Devices) == 0 {
		if q.DevMode == 'D' && q.Scan {
			return r.detailScan()
		}
		r.errf("No devices given.\n")
		return 2
	}
	rc := 0
	for _, d := range q.Devices {
		switch d.Disposition {
		case 'D':
			rc |= r.detail(d.Name)
		case 'Q':
			rc |= r.query(d.Name)
		case 'X':
			rc |= r.examineBitmap(d.Name)
		default: // no action: mdadm only opens the array
			if m, err := bitmap.Open(d.Name); err != nil || !m.Block || r.mdName(m.Rdev) == "" {
				r.errf("%s does not appear to be an md device\n", d.Name)
				rc |= 1
			} else {
				m.Close()
			}
		}
	}
	return rc
}
