package mdadmview

import (
	"fmt"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

// QueryJSON is --query --json for one device.
type QueryJSON struct {
	Device string `json:"device"`
	// Array is set when the device is an active md array.
	Array *QueryArray `json:"array,omitempty"`
	// NotArray says why the device is not an active md array.
	NotArray string `json:"not_array,omitempty"`
	// Member is set when the device holds an md superblock.
	Member *QueryMember `json:"member,omitempty"`
}

// QueryArray is the md array part of --query.
type QueryArray struct {
	SizeBytes  uint64 `json:"size_bytes"`
	Level      string `json:"level"`
	RaidDisks  int    `json:"raid_disks"`
	SpareDisks int    `json:"spare_disks"`
}

// QueryMember is the member part of --query.
type QueryMember struct {
	Number    uint32 `json:"number"`
	RaidDisks uint32 `json:"raid_disks"`
	Level     string `json:"level"`
	// Activity is active, mismatch, undetected or inactive.
	Activity string `json:"activity"`
	Array    string `json:"array"`
}

// query is mdadm's Query(): what the device is to md, as an array and as
// a member.
func (r *viewer) query(name string) int {
	m, err := bitmap.Open(name)
	if err != nil {
		r.errf("cannot open %s: %s\n", name, errnoText(err))
		return 1
	}
	defer m.Close()
	q := QueryJSON{Device: name}
	var mdn string
	if m.Block {
		mdn = r.mdName(m.Rdev)
	}
	if mdn != "" {
		if a, err := r.fs.SysfsRead(mdn); err == nil {
			q.Array = &QueryArray{SizeBytes: uint64(m.Size), Level: levelText(a.Level),
				RaidDisks: a.RaidDisks, SpareDisks: a.Spare}
		} else {
			mdn = ""
		}
	}
	if q.Array == nil {
		// mdadm asks GET_ARRAY_INFO here; a device md does not own answers
		// ENOTTY, an array without members ENODEV.
		switch {
		case !m.Block || md.DevMajor(m.Rdev) != 9:
			q.NotArray = "is not an md array"
		default:
			q.NotArray = "is an md device which is not active"
		}
	}
	if mem, err := LoadMember(m.Reader(), name); err == nil {
		sb := mem.Super
		qm := &QueryMember{Number: sb.DevNumber, RaidDisks: sb.RaidDisks,
			Level: levelText(knownLevel(sb.Level)), Activity: "inactive", Array: "array"}
		want := mapUUID(sb.SetUUID)
		for _, e := range r.readMap() {
			if e.uuid != want {
				continue
			}
			qm.Array, qm.Activity = e.path, r.activity(e.path, sb.DevNumber, m)
			break
		}
		q.Member = qm
	}
	if r.q.JSON {
		WriteJSON(r.out, q)
		return 0
	}
	if a := q.Array; a != nil {
		s := "s"
		if a.SpareDisks == 1 {
			s = ""
		}
		fmt.Fprintf(r.out, "%s: %s %s %d devices, %d spare%s. Use mdadm --detail for more detail.\n",
			name, humanSizeBrief(a.SizeBytes), a.Level, a.RaidDisks, a.SpareDisks, s)
	} else {
		fmt.Fprintf(r.out, "%s: %s\n", name, q.NotArray)
	}
	if qm := q.Member; qm != nil {
		fmt.Fprintf(r.out, "%s: device %d in %d device %s %s %s.  Use mdadm --examine for more detail.\n",
			name, int32(qm.Number), int32(qm.RaidDisks), qm.Activity, qm.Level, qm.Array)
	}
	return 0
}

// activity tells whether member m is descriptor number of the running
// array at path: active, mismatch (another device has that number, or m
// is not a block device), or undetected (the array cannot be opened).
func (r *viewer) activity(path string, number uint32, m *bitmap.Device) string {
	d, err := md.OpenDevice(path)
	if err != nil {
		return "undetected"
	}
	defer d.Close()
	if !r.arrayActive(path) {
		return "undetected"
	}
	di, err := d.DiskInfo(int(number))
	if err == nil && m.Block && uint32(di.Major) == md.DevMajor(m.Rdev) && uint32(di.Minor) == md.DevMinor(m.Rdev) {
		return "active"
	}
	return "mismatch"
}

// arrayActive is md_array_active for the md device at path.
func (r *viewer) arrayActive(path string) bool {
	m, err := bitmap.Open(path)
	if err != nil {
		return false
	}
	defer m.Close()
	n := ""
	if m.Block {
		n = r.mdName(m.Rdev)
	}
	if n == "" {
		return false
	}
	a, err := r.fs.SysfsRead(n)
	return err == nil && a.IsActive()
}

// levelText maps a sysfs or superblock level to mdadm's name (map_num of
// map_name), "(null)" when mdadm knows none.
func levelText(s string) string {
	switch s {
	case "linear", "raid0", "raid1", "raid4", "raid5", "raid6", "raid10", "multipath", "faulty", "container":
		return s
	}
	return "(null)"
}
