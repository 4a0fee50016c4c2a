package cli

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/md"
)

// target is one array a changing command touches, as named on the command
// line or found on disk.
type target struct {
	uuid  string // mdadm form, "" if only a name is known
	name  string // array name (-N, /dev/md/NAME), "" if unknown
	from  string // where it was found, for messages: "--uuid", "/dev/vda", "/dev/md0"
	devnm string // kernel name of the running md device ("md127"), "" if not running
	kind  string // lease needed: api.Kind*, or "" for none
	stop  bool   // the command stops it: its activation lease goes back afterwards
}

// plan is what a changing command needs from the agent.
type plan struct {
	verb    string // "assembling", "creating", …: the refusal says "not <verb>"
	targets []target
	// unknown says why the array could not be identified ("" if it was).
	unknown string
	// lessOnly is set when the command only makes this node do less
	// (stop, read-only, fail, remove): it runs even without the agent and
	// on unmanaged arrays.
	lessOnly bool
	// mdadmLocks is set when mdadm itself takes its admin lock
	// bitmap<cluster> (create --bitmap=clustered; manage and grow of a
	// clustered array), so mdcadm must not take it too.
	mdadmLocks bool
	stopAll    bool // --stop --scan: every managed array running here
	// clustered is set when --manage or --grow targets a running array
	// with a clustered bitmap (md-cluster): see clusterRefusal.
	clustered bool
}

// mdadmForm normalises a UUID in any of md's forms to mdadm's, or "".
func mdadmForm(s string) string {
	u, err := md.ParseUUID(s)
	if err != nil {
		return ""
	}
	return u.Colon()
}

// optArg returns the last argument of an option given by any of codes.
func (c *Config) optArg(codes ...int) (string, bool) {
	arg, ok := "", false
	for _, o := range c.Options {
		for _, code := range codes {
			if o.Code == code {
				arg, ok = o.Arg, true
			}
		}
	}
	return arg, ok
}

// has reports whether an option given by any of codes was given.
func (c *Config) has(codes ...int) bool { _, ok := c.optArg(codes...); return ok }

// makePlan works out the arrays and leases of a changing command.
func (e *Env) makePlan(c *Config) (*plan, error) {
	p := &plan{}
	var err error
	switch c.Mode {
	case ModeCreate, ModeAssemble:
		err = p.createOrAssemble(c)
	case ModeIncremental:
		err = p.incremental(c)
	case ModeManage, ModeGrow:
		err = e.manageOrGrow(c, p)
	case ModeMisc:
		err = e.misc(c, p)
	default:
		err = fmt.Errorf("--%s mode is not guarded", c.Mode)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// createOrAssemble plans --create and --assemble: the activation lease of
// the array named by --uuid, --name or /dev/md/NAME, and of every array
// whose superblock a member carries.
func (p *plan) createOrAssemble(c *Config) error {
	p.verb = "assembling"
	if c.Mode == ModeCreate {
		p.verb = "creating"
		bm, _ := c.optArg('b', optBitmap)
		p.mdadmLocks = bm == "clustered"
	}
	t := target{kind: api.KindActivation}
	if u, ok := c.optArg('u'); ok {
		if t.uuid = mdadmForm(u); t.uuid == "" {
			return fmt.Errorf("--uuid %q is not a UUID", u)
		}
		t.from = "--uuid"
	}
	if n, ok := c.optArg('N'); ok {
		t.name, t.from = n, strings.TrimPrefix(t.from+" --name", " ")
	}
	members := c.Devices
	if c.Mode == ModeAssemble && c.has('s') {
		// --assemble --scan names arrays, not members.
		for _, d := range members {
			if n := mdLinkName(d.Name); n != "" && t.uuid == "" {
				p.targets = append(p.targets, target{name: n, from: d.Name, kind: api.KindActivation})
			} else if n == "" && t.uuid == "" && t.name == "" {
				p.unknown = fmt.Sprintf("cannot tell which array %s is: give --uuid, or name it /dev/md/NAME", d.Name)
			}
		}
		members = nil
	}
	if len(members) > 0 {
		if t.name == "" {
			if t.name = mdLinkName(members[0].Name); t.from == "" {
				t.from = members[0].Name
			}
		}
		members = members[1:]
	}
	if t.uuid != "" || t.name != "" {
		p.targets = append(p.targets, t)
	}
	var firstErr error
	for _, d := range members {
		if d.Name == "missing" {
			continue
		}
		// A member without a superblock: a blank disk for create;
		// for assemble mdadm says why once the array is known.
		u, err := superUUID(d.Name)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		p.targets = append(p.targets, target{uuid: u, from: d.Name, kind: api.KindActivation})
	}
	if len(p.targets) == 0 && firstErr != nil && c.Mode == ModeAssemble {
		return firstErr
	}
	if len(p.targets) == 0 && p.unknown == "" {
		p.unknown = "cannot tell which array this is: give --uuid, --name or member devices"
	}
	return nil
}

// incremental plans --incremental: the activation lease of the array the
// device's superblock names; --fail and --rebuild-map only do less.
func (p *plan) incremental(c *Config) error {
	p.verb = "assembling"
	if c.DevMode == 'f' || (len(c.Devices) == 0 && c.has(optRebuildMap)) {
		p.verb, p.lessOnly = "removing", true
		return nil
	}
	if len(c.Devices) == 0 {
		p.unknown = "--incremental without a device may start any array: name the device"
		return nil
	}
	u, err := superUUID(c.Devices[0].Name)
	if err != nil {
		return err
	}
	p.targets = append(p.targets, target{uuid: u, from: c.Devices[0].Name, kind: api.KindActivation})
	return nil
}

// manageOrGrow plans --manage and --grow of a running array: the recovery
// lease for adding members, the admin lease for growing, none for what
// only makes this node do less.
func (e *Env) manageOrGrow(c *Config, p *plan) error {
	if len(c.Devices) == 0 {
		return fmt.Errorf("no md device given")
	}
	t, clustered, err := e.runningTarget(c.Devices[0].Name)
	if err != nil {
		return err
	}
	p.clustered = clustered
	if c.Mode == ModeGrow {
		p.verb, t.kind, p.mdadmLocks = "growing", api.KindAdmin, clustered
	} else {
		p.verb, p.lessOnly = "changing", true
		for _, d := range c.Devices[1:] {
			switch d.Disposition {
			case 'a', 'A', 'S', 'R', 'W':
				p.verb, t.kind, p.lessOnly = "adding", api.KindRecovery, false
			case 'f', 'r':
			default:
				p.lessOnly = false
			}
		}
		switch {
		case c.has('R'):
			t.kind, p.lessOnly = api.KindActivation, false
		case c.has('S'):
			t.stop = true
		}
		p.mdadmLocks = clustered && c.DevMode != 'c'
	}
	p.targets = append(p.targets, t)
	return nil
}

// misc plans --stop, --run, --readonly and --readwrite.
func (e *Env) misc(c *Config, p *plan) error {
	p.verb, p.lessOnly = "changing", true
	if len(c.Devices) == 0 && c.Scan && c.DevMode == 'S' {
		p.stopAll = true
		return nil
	}
	for _, d := range c.Devices {
		switch d.Disposition {
		case 'S', 'o', 'R', 'w':
		default:
			continue
		}
		t, _, err := e.runningTarget(d.Name)
		if err != nil {
			if d.Disposition == 'S' || d.Disposition == 'o' {
				continue // mdadm says why; stopping cannot start anything
			}
			return err
		}
		switch d.Disposition {
		case 'S':
			t.stop = true
		case 'R':
			p.verb, t.kind, p.lessOnly = "running", api.KindActivation, false
		case 'w':
			p.lessOnly = false
		}
		p.targets = append(p.targets, t)
	}
	return nil
}

// superUUID reads the array UUID from a member's v1 superblock.
func superUUID(dev string) (string, error) {
	m, err := bitmap.Open(dev)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dev, err)
	}
	defer m.Close()
	sb, _, err := m.Reader().ProbeSuperblock()
	if err != nil {
		return "", fmt.Errorf("%s: no md superblock: %w", dev, err)
	}
	return md.UUID(sb.SetUUID).Colon(), nil
}

// mdLinkName is NAME for /dev/md/NAME, else "".
func mdLinkName(dev string) string {
	if d, n := filepath.Split(dev); filepath.Clean(d) == "/dev/md" {
		return n
	}
	return ""
}

// runningTarget identifies a running md device by its sysfs uuid (or a
// member's superblock) and reports whether its bitmap is clustered.
func (e *Env) runningTarget(dev string) (target, bool, error) {
	t := target{from: dev, name: mdLinkName(dev)}
	fs, err := md.NewFS(e.Root)
	if err != nil {
		return t, false, err
	}
	nm := mdDevName(fs, dev)
	if nm == "" {
		if t.name != "" {
			return t, false, nil // not running: identified by name only
		}
		return t, false, fmt.Errorf("%s does not appear to be an md device", dev)
	}
	t.devnm = nm
	a, err := fs.Array(nm)
	if err != nil {
		return t, false, fmt.Errorf("%s (%s): %w", dev, nm, err)
	}
	if a.UUID != (md.UUID{}) {
		t.uuid = a.UUID.Colon()
	}
	for _, m := range a.Members {
		if t.uuid != "" {
			break
		}
		t.uuid, _ = superUUID(e.path("/dev/" + m.Name))
	}
	if t.uuid == "" && t.name == "" {
		return t, false, fmt.Errorf("%s (%s): cannot read its array UUID", dev, nm)
	}
	return t, a.Bitmap.Clustered(), nil
}

// mdDevName is the kernel name (md127) of an md device path, or "".
func mdDevName(fs md.FS, dev string) string {
	if fi, err := os.Stat(dev); err == nil && bitmap.IsBlock(fi) {
		if m, err := bitmap.Open(dev); err == nil {
			defer m.Close()
			if n := fs.BlockName(md.DevMajor(m.Rdev), md.DevMinor(m.Rdev)); fs.IsArray(n) {
				return n
			}
			return ""
		}
	}
	if b := filepath.Base(dev); strings.HasPrefix(b, "md") && fs.IsArray(b) {
		return b
	}
	return ""
}
