package cli

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// readSys reads a sysfs attribute without its trailing newline.
func (e *Env) readSys(p string) (string, error) {
	b, err := os.ReadFile(e.path(p))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// devnm returns the kernel name of block device major:minor ("md0",
// "vda") from /sys/dev/block.
func (e *Env) devnm(rdev uint64) string {
	l, err := os.Readlink(e.path(fmt.Sprintf("/sys/dev/block/%d:%d", devMajor(rdev), devMinor(rdev))))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

// mdName returns the md array name of a block device, "" if it is not one
// (mdadm's sysfs_init: /sys/block/<devnm>/md must be a directory).
func (e *Env) mdName(rdev uint64) string {
	n := e.devnm(rdev)
	if n == "" {
		return ""
	}
	if fi, err := os.Stat(e.path("/sys/block/" + n + "/md")); err != nil || !fi.IsDir() {
		return ""
	}
	return n
}

func devMajor(d uint64) uint32 { return uint32((d>>8)&0xfff | (d>>32)&^0xfff) }
func devMinor(d uint64) uint32 { return uint32(d&0xff | (d>>12)&^0xff) }

// sysDev is one dev-* entry of an array's sysfs directory.
type sysDev struct {
	name         string // "dev-vda"
	major, minor int32
	raidDisk     int32 // slot, -1 for "none"
	faulty, sync bool
}

// sysArray is what mdadm's sysfs_read collects about an array.
type sysArray struct {
	name                           string
	major                          int // metadata major version: -1 for none or external
	minor                          int // -1 none, -2 external
	textVersion                    string
	level                          string
	raidDisks                      int
	arrayState                     string
	devs                           []sysDev
	spare, active, working, failed int
	consistency                    string
}

// readArray reads /sys/block/<name>/md like sysfs_read with GET_VERSION,
// GET_LEVEL, GET_DEVS, GET_STATE and GET_ARRAY_STATE. Members are in
// directory order, as readdir returns them.
func (e *Env) readArray(name string) (*sysArray, error) {
	base := "/sys/block/" + name + "/md/"
	a := &sysArray{name: name}
	v, err := e.readSys(base + "metadata_version")
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(v, "none"):
		a.major, a.minor = -1, -1
	case strings.HasPrefix(v, "external:"):
		a.major, a.minor, a.textVersion = -1, -2, v[9:]
	default:
		maj, min, _ := strings.Cut(v, ".")
		a.major, _ = strconv.Atoi(maj)
		a.minor, _ = strconv.Atoi(min)
		a.textVersion = v
	}
	if a.level, err = e.readSys(base + "level"); err != nil {
		return nil, err
	}
	rd, err := e.readSys(base + "raid_disks")
	if err != nil {
		return nil, err
	}
	a.raidDisks, _ = strconv.Atoi(rd)
	if a.arrayState, err = e.readSys(base + "array_state"); err != nil {
		return nil, err
	}
	a.consistency, _ = e.readSys(base + "consistency_policy")
	f, err := os.Open(e.path(base))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", base, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", base, err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "dev-") {
			continue
		}
		d := sysDev{name: n}
		slot, err := e.readSys(base + n + "/slot")
		if err != nil {
			continue // the device is going away
		}
		if s, err := strconv.Atoi(slot); err == nil {
			d.raidDisk = int32(s)
		} else {
			d.raidDisk = -1
		}
		dev, err := e.readSys(base + n + "/block/dev")
		if err != nil {
			continue // a stale reference to a removed device
		}
		fmt.Sscanf(dev, "%d:%d", &d.major, &d.minor)
		if st, _ := e.readSys(base + n + "/block/device/state"); strings.HasPrefix(st, "offline") {
			continue
		}
		state, err := e.readSys(base + n + "/state")
		if err != nil {
			return nil, err
		}
		if strings.Contains(state, "faulty") {
			d.faulty = true
		} else {
			a.working++
			if strings.Contains(state, "in_sync") {
				d.sync = true
				a.active++
			} else {
				a.spare++
			}
		}
		a.devs = append(a.devs, d)
	}
	if a.raidDisks != 0 {
		a.failed = a.raidDisks - a.active - a.spare
	}
	return a, nil
}

// active is md_array_is_active.
func (a *sysArray) isActive() bool {
	switch a.arrayState {
	case "clear", "inactive", "":
		return false
	}
	for _, s := range []string{"active-idle", "active", "suspended", "readonly", "read-auto", "clean", "write-pending", "broken"} {
		if a.arrayState == s {
			return true
		}
	}
	return false
}

// mapEntry is a line of mdadm's map file (/run/mdadm/map).
type mapEntry struct {
	devnm, metadata string
	uuid            [4]uint32
	path            string
}

// readMap reads /run/mdadm/map. mdadm rebuilds a missing map; mdcadm
// treats it as empty.
func (e *Env) readMap() []mapEntry {
	f, err := os.Open(e.path("/run/mdadm/map"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mapEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 4 {
			continue
		}
		var m mapEntry
		m.devnm, m.metadata = w[0], w[1]
		if n, _ := fmt.Sscanf(w[2], "%x:%x:%x:%x", &m.uuid[0], &m.uuid[1], &m.uuid[2], &m.uuid[3]); n != 4 {
			continue
		}
		m.path = w[3]
		if len(m.path) > 200 {
			m.path = m.path[:200]
		}
		out = append(out, m)
	}
	return out
}

// mapUUID is the map file's form of an array UUID: the 16 bytes as four
// host-order (little-endian) 32-bit words.
func mapUUID(u [16]byte) [4]uint32 {
	var w [4]uint32
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(u[4*i:])
	}
	return w
}

// confName is the config file mdadm reads (Debian's location).
func confName(file string) string {
	if file != "" {
		return file
	}
	return "/etc/mdadm/mdadm.conf"
}

// confLines returns the config file's logical lines split into words
// (a line starting with white space continues the previous one).
func confLines(e *Env, file string) [][]string {
	b, err := os.ReadFile(e.path(confName(file)))
	if err != nil && file == "" {
		b, err = os.ReadFile(e.path("/etc/mdadm.conf"))
	}
	if err != nil {
		return nil
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], w...)
			continue
		}
		out = append(out, w)
	}
	return out
}

// confHomehost returns the HOMEHOST of the config file.
func confHomehost(e *Env, file string) string {
	for _, w := range confLines(e, file) {
		if strings.EqualFold(w[0], "HOMEHOST") && len(w) > 1 {
			return w[1]
		}
	}
	return ""
}

// confDevices lists the devices of the config file's DEVICE lines; without
// any, or for "partitions", those of /proc/partitions by their /dev names,
// last first (mdadm's load_partitions prepends each).
func (r *runner) confDevices(file string) []Device {
	e := r.env
	var pats []string
	for _, w := range confLines(e, file) {
		if strings.EqualFold(w[0], "DEVICE") {
			pats = append(pats, w[1:]...)
		}
	}
	if len(pats) == 0 {
		pats = []string{"partitions"}
	}
	var out, globs []Device
	for _, p := range pats {
		if p == "partitions" {
			b, _ := os.ReadFile(e.path("/proc/partitions"))
			var part []Device
			for _, l := range strings.Split(string(b), "\n") {
				var maj, min uint32
				if !strings.HasPrefix(l, " ") {
					continue
				}
				if n, _ := fmt.Sscan(l, &maj, &min); n != 2 {
					continue
				}
				if name := r.mapDev(maj, min, true); name != "" {
					part = append([]Device{{Name: name}}, part...)
				}
			}
			out = append(out, part...)
			continue
		}
		if p == "containers" {
			continue
		}
		m, _ := filepath.Glob(e.path(p))
		for _, n := range m {
			rel, _ := filepath.Rel(e.path("/"), n)
			globs = append([]Device{{Name: "/" + rel}}, globs...) // prepended, as mdadm does
		}
	}
	return append(globs, out...)
}
