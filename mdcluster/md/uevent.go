package md

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Event is a decoded kernel uevent that concerns md or the DLM: *ArrayEvent, *NewDiskEvent or
// *LockspaceEvent.
type Event interface {
	// Seqnum is the kernel's uevent sequence number (SEQNUM).
	Seqnum() uint64
}

// ArrayEvent is a uevent of an md array's block device (SUBSYSTEM=block, DEVNAME=mdN). On
// Linux 6.1 md sends "add" when the device appears, "change" when the array starts, and
// "remove" when a stopped array's device is released. Stopping, member changes (fail, remove,
// re-add) and sync progress send none; mdadm --stop writes a synthetic "change".
type ArrayEvent struct {
	Action    string // add, change, remove
	Array     string // "md0"
	Major     uint32
	Minor     uint32
	Synthetic bool // SYNTH_UUID set: written by userspace to the device's uevent file
	Seq       uint64
}

// NewDiskEvent is md-cluster's request to confirm a disk a peer added (ACTION=change,
// EVENT=ADD_DEVICE): answer within about 5 s with ADD_NEW_DISK (State DiskCandidate) for the
// local device whose superblock has DeviceUUID, or with CLUSTERED_DISK_NACK.
type NewDiskEvent struct {
	Array      string // "md0"
	DeviceUUID UUID   // DEVICE_UUID: the new member's device UUID
	RaidDisk   int    // RAID_DISK: its role in the array
	Seq        uint64
}

// LockspaceEvent is a DLM lockspace uevent (SUBSYSTEM=dlm, DEVPATH=/kernel/dlm/<name>). The
// kernel blocks a joining or leaving lockspace until the control daemon answers "online" and
// "offline" through /sys/kernel/dlm/<name>/event_done.
type LockspaceEvent struct {
	Action    string // add, online, offline, remove
	Lockspace string // LOCKSPACE: md's are named after the array UUID (%pU)
	Seq       uint64
}

// Seqnum implements Event.
func (e *ArrayEvent) Seqnum() uint64 { return e.Seq }

// Seqnum implements Event.
func (e *NewDiskEvent) Seqnum() uint64 { return e.Seq }

// Seqnum implements Event.
func (e *LockspaceEvent) Seqnum() uint64 { return e.Seq }

// ParseUevent splits a kernel uevent netlink message ("action@devpath\0KEY=VALUE\0…") into its
// environment. Messages from udev ("libudev" header) are refused.
func ParseUevent(b []byte) (map[string]string, error) {
	fields := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	head := string(fields[0])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok || action == "" || devpath == "" {
		return nil, fmt.Errorf("%w: uevent header %q", ErrParse, head)
	}
	env := make(map[string]string, len(fields)-1)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: uevent field %q in %q", ErrParse, f, head)
		}
		env[k] = v
	}
	if env["ACTION"] != action || env["DEVPATH"] != devpath {
		return nil, fmt.Errorf("%w: uevent %q: ACTION %q, DEVPATH %q disagree with the header",
			ErrParse, head, env["ACTION"], env["DEVPATH"])
	}
	return env, nil
}

// DecodeUevent turns a uevent environment into an Event. It returns ok false, without error,
// for uevents that concern neither md arrays nor DLM lockspaces, and an error wrapping ErrParse
// for md or dlm uevents that miss or garble a field.
func DecodeUevent(env map[string]string) (ev Event, ok bool, err error) {
	action := env["ACTION"]
	var seq uint64
	if s, has := env["SEQNUM"]; has {
		if seq, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, false, fmt.Errorf("%w: uevent SEQNUM %q", ErrParse, s)
		}
	}
	switch env["SUBSYSTEM"] {
	case "dlm":
		ls := env["LOCKSPACE"]
		if ls == "" {
			return nil, false, fmt.Errorf("%w: dlm uevent %s %s without LOCKSPACE", ErrParse, action, env["DEVPATH"])
		}
		return &LockspaceEvent{Action: action, Lockspace: ls, Seq: seq}, true, nil
	case "block":
		name := env["DEVNAME"]
		if name == "" {
			name = path.Base(env["DEVPATH"])
		}
		if !isArrayName(name) || env["DEVTYPE"] == "partition" {
			return nil, false, nil
		}
		if env["EVENT"] == "ADD_DEVICE" {
			return decodeNewDisk(name, seq, env)
		}
		_, synth := env["SYNTH_UUID"]
		a := &ArrayEvent{Action: action, Array: name, Synthetic: synth, Seq: seq}
		if maj, min := env["MAJOR"], env["MINOR"]; maj != "" || min != "" {
			if a.Major, a.Minor, err = parseDevNum(maj + ":" + min); err != nil {
				return nil, false, fmt.Errorf("md: %s uevent: %w", name, err)
			}
		}
		return a, true, nil
	}
	return nil, false, nil
}

func decodeNewDisk(array string, seq uint64, env map[string]string) (Event, bool, error) {
	u, err := ParseUUID(env["DEVICE_UUID"])
	if err != nil {
		return nil, false, fmt.Errorf("md: %s ADD_DEVICE uevent: DEVICE_UUID: %w", array, err)
	}
	rd, err := strconv.Atoi(env["RAID_DISK"])
	if err != nil {
		return nil, false, fmt.Errorf("md: %s ADD_DEVICE uevent: %w: RAID_DISK %q", array, ErrParse, env["RAID_DISK"])
	}
	return &NewDiskEvent{Array: array, DeviceUUID: u, RaidDisk: rd, Seq: seq}, true, nil
}

// isArrayName reports whether a block device name is an md array: "md" and digits, or a named
// array's "md_<name>".
func isArrayName(name string) bool {
	rest, ok := strings.CutPrefix(name, "md")
	if !ok || rest == "" {
		return false
	}
	if rest[0] == '_' {
		return len(rest) > 1
	}
	_, err := strconv.ParseUint(rest, 10, 32)
	return err == nil
}
