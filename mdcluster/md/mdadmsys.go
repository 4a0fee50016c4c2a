package md

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file reads sysfs the way mdadm 4.2 does, for views that must print what mdadm prints
// (mdcadm's --detail and --query): mdadm's sysfs_read keeps members in directory order, skips
// offline devices and counts roles its own way, which Array (sorted, complete) does not.

// SysfsDev is one dev-* entry of an array's sysfs directory, as mdadm's sysfs_read keeps it.
type SysfsDev struct {
	Name         string // "dev-vda"
	Major, Minor int32
	RaidDisk     int32 // slot, -1 for "none"
	Faulty, Sync bool
}

// SysfsArray is what mdadm's sysfs_read collects about an array (GET_VERSION, GET_LEVEL,
// GET_DEVS, GET_STATE, GET_ARRAY_STATE, GET_CONSISTENCY_POLICY).
type SysfsArray struct {
	Name          string
	Major         int // metadata major version: -1 for none or external
	Minor         int // -1 none, -2 external
	TextVersion   string
	Level         string
	RaidDisks     int
	ArrayState    string
	Consistency   string
	ComponentSize uint64 // KiB; 0 when unknown
	Devs          []SysfsDev

	Spare, Active, Working, Failed int
}

// sysAttr reads <root>/sys/block/<name>/md/<attr> without its newline.
func (f FS) sysAttr(name, attr string) (string, error) {
	dir, err := f.mdDir(name)
	if err != nil {
		return "", err
	}
	v, ok, err := readFile(filepath.Join(dir, attr))
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s/md/%s: absent", ErrRead, name, attr)
	}
	return v, err
}

// SysfsRead reads /sys/block/<name>/md like mdadm's sysfs_read. Members are in directory order,
// as readdir returns them; offline devices and stale references are left out.
func (f FS) SysfsRead(name string) (*SysfsArray, error) {
	a := &SysfsArray{Name: name}
	v, err := f.sysAttr(name, "metadata_version")
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(v, "none"):
		a.Major, a.Minor = -1, -1
	case strings.HasPrefix(v, "external:"):
		a.Major, a.Minor, a.TextVersion = -1, -2, v[9:]
	default:
		maj, min, _ := strings.Cut(v, ".")
		a.Major, _ = strconv.Atoi(maj)
		a.Minor, _ = strconv.Atoi(min)
		a.TextVersion = v
	}
	if a.Level, err = f.sysAttr(name, "level"); err != nil {
		return nil, err
	}
	rd, err := f.sysAttr(name, "raid_disks")
	if err != nil {
		return nil, err
	}
	a.RaidDisks, _ = strconv.Atoi(rd)
	if a.ArrayState, err = f.sysAttr(name, "array_state"); err != nil {
		return nil, err
	}
	a.Consistency, _ = f.sysAttr(name, "consistency_policy")
	if cs, err := f.sysAttr(name, "component_size"); err == nil {
		a.ComponentSize, _ = strconv.ParseUint(cs, 10, 64)
	}
	if err := f.sysDevs(a); err != nil {
		return nil, err
	}
	if a.RaidDisks != 0 {
		a.Failed = a.RaidDisks - a.Active - a.Spare
	}
	return a, nil
}

// sysDevs reads the dev-* entries of a and counts them as sysfs_read does.
func (f FS) sysDevs(a *SysfsArray) error {
	dir, _ := f.mdDir(a.Name)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRead, a.Name, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRead, a.Name, err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "dev-") {
			continue
		}
		dv := SysfsDev{Name: n}
		slot, err := f.sysAttr(a.Name, n+"/slot")
		if err != nil {
			continue // the device is going away
		}
		if s, err := strconv.Atoi(slot); err == nil {
			dv.RaidDisk = int32(s)
		} else {
			dv.RaidDisk = -1
		}
		dev, err := f.sysAttr(a.Name, n+"/block/dev")
		if err != nil {
			continue // a stale reference to a removed device
		}
		fmt.Sscanf(dev, "%d:%d", &dv.Major, &dv.Minor)
		if st, _ := f.sysAttr(a.Name, n+"/block/device/state"); strings.HasPrefix(st, "offline") {
			continue
		}
		state, err := f.sysAttr(a.Name, n+"/state")
		if err != nil {
			return err
		}
		if strings.Contains(state, "faulty") {
			dv.Faulty = true
		} else {
			a.Working++
			if strings.Contains(state, "in_sync") {
				dv.Sync = true
				a.Active++
			} else {
				a.Spare++
			}
		}
		a.Devs = append(a.Devs, dv)
	}
	return nil
}

// IsActive is mdadm's md_array_is_active.
func (a *SysfsArray) IsActive() bool {
	switch a.ArrayState {
	case "active-idle", "active", "suspended", "readonly", "read-auto", "clean", "write-pending", "broken":
		return true
	}
	return false
}

// BlockName returns the kernel name ("md0", "vda") of block device major:minor, from
// /sys/dev/block, or "".
func (f FS) BlockName(major, minor uint32) string {
	l, err := os.Readlink(filepath.Join(f.root, "sys", "dev", "block", fmt.Sprintf("%d:%d", major, minor)))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

// BlockAlive reports whether block device major:minor exists (mdadm's is_dev_alive).
func (f FS) BlockAlive(major, minor uint32) bool {
	_, err := os.Stat(filepath.Join(f.root, "sys", "dev", "block", fmt.Sprintf("%d:%d", major, minor)))
	return err == nil
}

// IsArray reports whether the block device name has an md directory (mdadm's sysfs_init).
func (f FS) IsArray(name string) bool {
	dir, err := f.mdDir(name)
	if err != nil {
		return false
	}
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// BlockNames lists /sys/class/block: every block device and partition, in directory order.
func (f FS) BlockNames() ([]string, error) {
	d, err := os.Open(filepath.Join(f.root, "sys", "class", "block"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRead, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRead, err)
	}
	return names, nil
}

// DevMajor and DevMinor split a Linux dev_t.
func DevMajor(d uint64) uint32 { return uint32((d>>8)&0xfff | (d>>32)&^0xfff) }

// DevMinor is the minor number of a Linux dev_t.
func DevMinor(d uint64) uint32 { return uint32(d&0xff | (d>>12)&^0xff) }
