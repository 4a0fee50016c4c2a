package monitor

import (
	"fmt"
	"slices"
	"testing"
)

const (
	inSync = diskSync | 1<<1 // MD_DISK_ACTIVE | MD_DISK_SYNC, what md reports for a working member
	spare  = 0
	faulty = diskFaulty
)

// raid1 is a look at a two-member RAID1 (md127 on vda, vdb, plus extra devices).
func raid1(utime uint32, percent int, disks ...int) Snapshot {
	s := Snapshot{Devnm: "md127", InMdstat: true, Level: "raid1", LevelNum: 1, UTime: utime, Raid: 2, Percent: percent}
	for i, st := range disks {
		d := Disk{Major: 254, Minor: 16 * i, State: st, Name: fmt.Sprintf("/dev/vd%c", 'a'+i)}
		if st == diskRemoved {
			d = Disk{}
		}
		s.Disks = append(s.Disks, d)
		switch {
		case st == diskRemoved:
		case st&diskFaulty != 0:
			s.Failed++
		case st&diskSync != 0:
			s.Active++
			s.Working++
		default:
			s.Spare++
			s.Working++
		}
	}
	s.Degraded = s.Active < s.Raid
	return s
}

func names(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Name + " " + e.Dev
		if e.Disc != "" {
			s += " " + e.Disc
		}
		out = append(out, s)
	}
	return out
}

// step is one look and the events mdadm 4.2 reports for it.
type step struct {
	snap Snapshot
	want []string
}

func run(t *testing.T, st *ArrayState, steps []step) {
	t.Helper()
	for i, s := range steps {
		evs, _ := st.Check(s.snap, false, 20)
		if got := names(evs); !slices.Equal(got, s.want) {
			t.Fatalf("look %d: events %q, want %q", i, got, s.want)
		}
	}
}

// The life of a RAID1 found by --scan: new, a member fails and is removed, a disk is added and
// rebuilt through the increments, becomes active; then a check finds mismatches.
func TestCheckLifecycle(t *testing.T) {
	st := NewState("/dev/md127")
	st.Err, st.FromAuto = 1, true // added by --scan
	run(t, st, []step{
		{raid1(100, percentNone, inSync, inSync), []string{"NewArray /dev/md127"}},
		{raid1(100, percentNone, inSync, inSync), nil},
		{raid1(101, percentNone, inSync, faulty), []string{"Fail /dev/md127 /dev/vdb"}},
		{raid1(102, percentNone, inSync, diskRemoved), nil},
		{raid1(103, percentNone, inSync, diskRemoved, spare), nil},
		{raid1(104, 0, inSync, diskRemoved, spare), []string{"RebuildStarted /dev/md127"}},
		{raid1(104, 19, inSync, diskRemoved, spare), nil},
		{raid1(104, 23, inSync, diskRemoved, spare), []string{"Rebuild23 /dev/md127"}},
		{raid1(104, 81, inSync, diskRemoved, spare), []string{"Rebuild81 /dev/md127"}},
		{raid1(105, percentNone, inSync, diskRemoved, inSync), []string{"RebuildFinished /dev/md127", "SpareActive /dev/md127 /dev/vdc"}},
	})
	chk := raid1(106, 50, inSync, diskRemoved, inSync)
	run(t, st, []step{{chk, []string{"RebuildStarted /dev/md127"}}}) // from "no sync", whatever the percentage
	done := raid1(106, percentNone, inSync, diskRemoved, inSync)
	done.Mismatch = 128
	run(t, st, []step{{done, []string{"RebuildFinished /dev/md127  mismatches found: 128 (on raid level 1)"}}})
}

// An array listed in mdadm.conf: no NewArray, but DegradedArray and SparesMissing at its first
// look; a sync already running at the first look is not "started".
func TestCheckFirstLookOfConfigured(t *testing.T) {
	st := NewState("/dev/md/data")
	st.FromConfig, st.ExpectedSpares = true, 1
	run(t, st, []step{
		{raid1(100, 40, inSync, diskRemoved), []string{"DegradedArray /dev/md/data", "SparesMissing /dev/md/data"}},
		{raid1(100, 60, inSync, diskRemoved), []string{"Rebuild60 /dev/md/data"}},
	})
	// Found by --scan instead, degraded and syncing: NewArray, DegradedArray, RebuildStarted.
	st = NewState("/dev/md127")
	st.Err = 1
	run(t, st, []step{{raid1(100, 40, inSync, diskRemoved), []string{"NewArray /dev/md127", "DegradedArray /dev/md127", "RebuildStarted /dev/md127"}}})
}

// A spare that fails is FailSpare; an array that vanishes is DeviceDisappeared once, and
// NewArray when it comes back; RAID0 is "DeviceDisappeared  Wrong-Level" once.
func TestCheckFailSpareAndDisappear(t *testing.T) {
	st := NewState("/dev/md127")
	run(t, st, []step{
		{raid1(100, percentNone, inSync, inSync, spare), nil},
		{raid1(101, percentNone, inSync, inSync, faulty), []string{"FailSpare /dev/md127 /dev/vdc"}},
		{Snapshot{Gone: true}, []string{"DeviceDisappeared /dev/md127"}},
		{Snapshot{Gone: true}, nil},
		{raid1(105, percentNone, inSync, inSync), []string{"NewArray /dev/md127"}},
	})
	r0 := raid1(1, percentNone, inSync, inSync)
	r0.Level, r0.LevelNum = "raid0", 0
	st = NewState("/dev/md1")
	run(t, st, []step{{r0, []string{"DeviceDisappeared /dev/md1  Wrong-Level"}}, {r0, nil}})
	if evs, _ := NewState("/dev/md2").Check(raid1(1, percentNone, inSync, inSync), true, 20); !slices.Equal(names(evs), []string{"TestMessage /dev/md2"}) {
		t.Fatalf("--test: %q", names(evs))
	}
	// An array not in /proc/mdstat (listed twice) is an error without an event.
	st = NewState("/dev/md3")
	s := raid1(1, percentNone, inSync, inSync)
	s.InMdstat = false
	run(t, st, []step{{s, nil}})
	if st.Err != 1 {
		t.Fatalf("err %d", st.Err)
	}
}

// Check returns whether the array is degraded with no spare (a MoveSpare candidate).
func TestCheckDegradedNoSpare(t *testing.T) {
	st := NewState("/dev/md127")
	if _, d := st.Check(raid1(1, percentNone, inSync, diskRemoved), false, 20); !d {
		t.Fatal("degraded without a spare not reported")
	}
	if _, d := st.Check(raid1(2, percentNone, inSync, diskRemoved, spare), false, 20); d {
		t.Fatal("a spare is there")
	}
}
