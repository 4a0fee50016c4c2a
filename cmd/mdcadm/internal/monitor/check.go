// Package monitor is mdcadm --monitor: it watches md arrays as mdadm 4.2's --monitor does and
// reports the same events with the same arguments — Fail, FailSpare, DegradedArray,
// RebuildStarted, RebuildNN, RebuildFinished, SpareActive, NewArray, DeviceDisappeared,
// TestMessage, MoveSpare and SparesMissing — to a program, by mail, to syslog or on stdout.
//
// The difference is in a cluster: an md-cluster array runs on every node, so every node's mdadm
// sees (and sends) each of its events. mdcadm's monitor delivers the events of such a shared
// array from one node only, the holder of the array's delivery lease (kept by the local
// mdclusterd in the lock service), and after each delivery it saves the array's state as
// delivered — the delivery cursor — in the cluster state. When the holder dies, the lease and
// the cursor pass to another node's monitor, which goes on from the state the last delivery
// left: what changed meanwhile is reported once, nothing twice (see shared.go).
package monitor

import (
	"fmt"

	"mdcluster.dev/mdcluster/md"
)

// Sync percentages as mdadm reads them from /proc/mdstat, besides 0..100.
const (
	percentNone    = md.PercentNone // no sync
	percentUnknown = -5             // not looked at yet
)

// Disk state bits, as GET_DISK_INFO gives them (MD_DISK_*).
const (
	diskFaulty  = md.DiskFaulty
	diskSync    = md.DiskSync
	diskRemoved = md.DiskRemoved
)

// Event is one alert: mdadm's event name, the md device and the component device ("" for none:
// the program then gets two arguments, as from mdadm).
type Event struct {
	Name string `json:"name"`
	Dev  string `json:"dev"`
	Disc string `json:"disc,omitempty"`
}

// Disk is one descriptor of an array as GET_DISK_INFO reports it.
type Disk struct {
	Major, Minor int
	State        int
	Name         string // /dev/<kernel name> of Major:Minor, as mdadm maps it
}

// Snapshot is what one look at an array shows, read as mdadm's check_array reads it.
type Snapshot struct {
	Devnm string // kernel name, "md127"
	// Gone: the device cannot be opened, is not active, or its array info cannot be read.
	Gone                                 bool
	InMdstat                             bool   // /proc/mdstat lists it
	Level                                string // "raid1", …; "" for a container
	LevelNum                             int    // md's level number (0 RAID0, -1 linear)
	UTime                                uint32 // the superblock's update time (GET_ARRAY_INFO)
	Active, Working, Failed, Spare, Raid int
	Degraded                             bool   // some role has no in-sync device (mdstat's [U_])
	Percent                              int    // the sync's percentage in /proc/mdstat, or percentNone and the like
	Mismatch                             uint64 // mismatch_cnt
	Disks                                []Disk // by descriptor number; a zero Major:Minor is an unused number
}

// ArrayState is what the monitor remembers about an array between looks (mdadm's struct
// state). It is what a shared array's delivery cursor keeps, so it is plain data.
type ArrayState struct {
	Dev            string `json:"dev"`
	Devnm          string `json:"devnm,omitempty"`
	UTime          uint32 `json:"utime"`
	Err            int    `json:"err"`
	Active         int    `json:"active"`
	Working        int    `json:"working"`
	Failed         int    `json:"failed"`
	Spare          int    `json:"spare"`
	Raid           int    `json:"raid"`
	FromConfig     bool   `json:"from_config,omitempty"`
	FromAuto       bool   `json:"from_auto,omitempty"`
	ExpectedSpares int    `json:"expected_spares"`
	SpareGroup     string `json:"spare_group,omitempty"`
	Percent        int    `json:"percent"`
	// DevState and DevID are per descriptor number: the disk's state bits and its device
	// (major<<20|minor; 0 for none), DevName its name as last seen.
	DevState map[int]int    `json:"devstate,omitempty"`
	DevID    map[int]uint64 `json:"devid,omitempty"`
	DevName  map[int]string `json:"devname,omitempty"`
}

// NewState is the state of an array the monitor has not looked at yet.
func NewState(dev string) *ArrayState {
	return &ArrayState{Dev: dev, Percent: percentUnknown, ExpectedSpares: -1,
		DevState: map[int]int{}, DevID: map[int]uint64{}, DevName: map[int]string{}}
}

// normalize makes a state decoded from a cursor usable (its maps may be absent).
func (st *ArrayState) normalize() {
	if st.DevState == nil {
		st.DevState = map[int]int{}
	}
	if st.DevID == nil {
		st.DevID = map[int]uint64{}
	}
	if st.DevName == nil {
		st.DevName = map[int]string{}
	}
}

func devID(major, minor int) uint64 { return uint64(major)<<20 | uint64(minor) }

// Check compares a look at the array with what st remembers, returns the events mdadm would
// report, in its order, and updates st. It reports whether the array is degraded with no spare
// (a candidate for MoveSpare).
func (st *ArrayState) Check(s Snapshot, test bool, increments int) ([]Event, bool) {
	var evs []Event
	alert := func(name, disc string) { evs = append(evs, Event{Name: name, Dev: st.Dev, Disc: disc}) }
	if test {
		alert("TestMessage", "")
	}
	if st.Devnm == "" {
		st.Devnm = s.Devnm
	}
	container := s.Level == "" && s.InMdstat // mdstat lists a container without a level
	switch {
	case s.Gone:
		if st.Err == 0 && !container {
			alert("DeviceDisappeared", "")
		}
		st.Err++
		return evs, false
	case !s.InMdstat:
		st.Err++ // listed twice, or re-created since mdstat was read
		return evs, false
	case s.LevelNum == 0 || s.LevelNum == -1:
		if st.Err == 0 && !st.FromConfig {
			alert("DeviceDisappeared", " Wrong-Level")
		}
		st.Err++
		return evs, false
	}
	utime := s.UTime
	if utime == 0 {
		utime = st.UTime + 1 // external metadata: always a change
	}
	newArray := false
	if st.Err > 0 {
		st.Err, st.Percent, newArray = 0, percentNone, true
		if !container {
			alert("NewArray", "")
		}
	}
	if st.UTime == utime && st.Failed == s.Failed && st.Working == s.Working && st.Spare == s.Spare && s.Percent == st.Percent {
		return evs, st.Active < st.Raid && st.Spare == 0
	}
	if st.UTime == 0 && s.Degraded {
		alert("DegradedArray", "")
	}
	if st.UTime == 0 && st.ExpectedSpares > 0 && s.Spare < st.ExpectedSpares {
		alert("SparesMissing", "")
	}
	evs = append(evs, st.rebuild(s, increments)...)
	st.Percent = s.Percent
	evs = append(evs, st.disks(s, newArray)...)
	st.Active, st.Working, st.Spare, st.Failed, st.Raid = s.Active, s.Working, s.Spare, s.Failed, s.Raid
	st.UTime, st.Err = utime, 0
	return evs, st.Active < st.Raid && st.Spare == 0
}

// rebuild reports a sync that started, crossed an increment, or finished (with the mismatches a
// check found).
func (st *ArrayState) rebuild(s Snapshot, increments int) []Event {
	var evs []Event
	alert := func(name, disc string) { evs = append(evs, Event{Name: name, Dev: st.Dev, Disc: disc}) }
	if st.Percent < 0 && st.Percent != percentUnknown && s.Percent >= 0 {
		alert("RebuildStarted", "")
	}
	if st.Percent >= 0 && s.Percent >= 0 && s.Percent/increments > st.Percent/increments {
		if s.Percent/increments == 0 {
			alert("RebuildStarted", "")
		} else {
			alert(rebuildName(s.Percent), "")
		}
	}
	if s.Percent == percentNone && st.Percent >= 0 {
		if s.Mismatch > 0 {
			alert("RebuildFinished", mismatchText(s.Mismatch, s.LevelNum))
		} else {
			alert("RebuildFinished", "")
		}
	}
	return evs
}

// disks reports each descriptor whose state changed: an in-sync disk that is no longer (Fail),
// the same spare turned faulty (FailSpare), a disk that became in sync (SpareActive). Unused
// descriptors (most of md's 4096) are not stored: after the first look, a descriptor st does
// not hold is removed, as mdadm's table would say.
func (st *ArrayState) disks(s Snapshot, newArray bool) []Event {
	var evs []Event
	for i := range md.MaxDisks {
		var d Disk
		if i < len(s.Disks) {
			d = s.Disks[i]
		}
		used := d.Major != 0 || d.Minor != 0
		state, name, id := diskRemoved, "", uint64(0)
		if used {
			state, name, id = d.State, d.Name, devID(d.Major, d.Minor)
		}
		old, known := st.DevState[i]
		if !known && st.UTime != 0 {
			old = diskRemoved
		}
		oldID := st.DevID[i]
		if name == "" && oldID != 0 {
			name = st.DevName[i]
		}
		change := state ^ old
		if st.UTime != 0 && change != 0 && st.Err == 0 && !newArray {
			switch {
			case old&change&diskSync != 0:
				evs = append(evs, Event{Name: "Fail", Dev: st.Dev, Disc: name})
			case state&diskFaulty != 0 && used && oldID == id:
				evs = append(evs, Event{Name: "FailSpare", Dev: st.Dev, Disc: name})
			case state&change&diskSync != 0:
				evs = append(evs, Event{Name: "SpareActive", Dev: st.Dev, Disc: name})
			}
		}
		if state == diskRemoved && id == 0 {
			delete(st.DevState, i)
			delete(st.DevID, i)
			delete(st.DevName, i)
			continue
		}
		st.DevState[i], st.DevID[i] = state, id
		if name != "" {
			st.DevName[i] = name
		}
	}
	return evs
}

func rebuildName(percent int) string { return fmt.Sprintf("Rebuild%02d", percent) }

func mismatchText(n uint64, level int) string {
	return fmt.Sprintf(" mismatches found: %d (on raid level %d)", n, level)
}
