//go:build vmguest

package md

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openDevice(t *testing.T, path string) *Device {
	t.Helper()
	dev, err := OpenDevice(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

// TestGuestIoctlInfo checks GET_ARRAY_INFO, GET_DISK_INFO and GET_BITMAP_FILE against sysfs.
func TestGuestIoctlInfo(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --bitmap=internal --size=32768")
	a := waitArray(t, fs, "md0", "resync done", synced)
	dev := openDevice(t, "/dev/md0")

	v, err := dev.raidVersion()
	if err != nil || v != (Version{0, 90, 3}) {
		t.Errorf("RAID_VERSION = %+v, %v; want 0.90.3", v, err)
	}
	ai, err := dev.ArrayInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GET_ARRAY_INFO: %+v", ai)
	if ai.Level != 1 || int(ai.RaidDisks) != a.RaidDisks || ai.NrDisks != 2 || ai.ActiveDisks != 2 ||
		ai.WorkingDisks != 2 || ai.FailedDisks != 0 || uint64(ai.Size) != a.ComponentSize ||
		uint64(ai.ChunkSize) != a.ChunkSize || ai.MajorVersion != 1 || ai.MinorVersion != 2 || ai.MdMinor != 0 {
		t.Errorf("GET_ARRAY_INFO %+v disagrees with sysfs %+v", ai, a)
	}
	if ai.State&ArrayStateBitmapPresent == 0 || ai.State&ArrayStateClustered != 0 {
		t.Errorf("GET_ARRAY_INFO state %#x: want bitmap present, not clustered", ai.State)
	}
	disks, err := dev.Disks()
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != len(a.Members) {
		t.Fatalf("GET_DISK_INFO found %+v, sysfs %+v", disks, a.Members)
	}
	for _, di := range disks {
		var m *Member
		for i := range a.Members {
			if a.Members[i].Major == uint32(di.Major) && a.Members[i].Minor == uint32(di.Minor) {
				m = &a.Members[i]
			}
		}
		if m == nil || int(di.RaidDisk) != m.Slot || di.State&(DiskActive|DiskSync) != DiskActive|DiskSync || di.State&DiskFaulty != 0 {
			t.Errorf("GET_DISK_INFO %+v, sysfs member %+v", di, m)
		}
	}
	if di, err := dev.DiskInfo(100); err != nil || di.State != DiskRemoved || di.Major != 0 || di.RaidDisk != -1 {
		t.Errorf("GET_DISK_INFO of an unused number: %+v, %v", di, err)
	}
	if p, err := dev.BitmapFile(); err != nil || p != "" || a.Bitmap.Location == "file" {
		t.Errorf("GET_BITMAP_FILE = %q, %v with sysfs location %q; want \"\" for an internal bitmap", p, err, a.Bitmap.Location)
	}
	// md knows the request (else ENOTTY) and refuses it on a non-clustered array.
	if err := dev.ClusteredDiskNack(); !errors.Is(err, unix.EINVAL) {
		t.Errorf("CLUSTERED_DISK_NACK on a plain array: got %v, want EINVAL", err)
	}
}

// TestGuestIoctlMembers fails a member with SET_DISK_FAULTY, removes it with HOT_REMOVE_DISK and
// adds it back with ADD_NEW_DISK, checking sysfs after each.
func TestGuestIoctlMembers(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --bitmap=internal --size=32768")
	a := waitArray(t, fs, "md0", "resync done", synced)
	vdb := member(t, a, filepath.Base(d[1]))
	dev := openDevice(t, "/dev/md0")

	if err := dev.hotRemoveDisk(vdb.Major, vdb.Minor); !errors.Is(err, unix.EBUSY) {
		t.Errorf("HOT_REMOVE_DISK of an active member: got %v, want EBUSY", err)
	}
	if err := dev.setDiskFaulty(vdb.Major, vdb.Minor); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", vdb.Name+" faulty and out of its slot", func(a Array) bool {
		m := member(t, a, vdb.Name)
		return m.Has(MemberFaulty) && m.Slot == -1
	})
	if a.Degraded != 1 {
		t.Errorf("degraded %d after SET_DISK_FAULTY, want 1", a.Degraded)
	}
	if ai, err := dev.ArrayInfo(); err != nil || ai.FailedDisks != 1 || ai.ActiveDisks != 1 {
		t.Errorf("GET_ARRAY_INFO after the failure: %+v, %v", ai, err)
	}
	if err := dev.hotRemoveDisk(vdb.Major, vdb.Minor); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", vdb.Name+" removed", func(a Array) bool { return !hasMember(a, vdb.Name) })
	if ai, err := dev.ArrayInfo(); err != nil || ai.NrDisks != 1 {
		t.Errorf("GET_ARRAY_INFO after HOT_REMOVE_DISK: %+v, %v", ai, err)
	}
	// The removed disk still carries the array's superblock: ADD_NEW_DISK re-adds it.
	if err := dev.AddNewDisk(DiskInfo{Major: int32(vdb.Major), Minor: int32(vdb.Minor)}); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", vdb.Name+" back in sync", func(a Array) bool {
		return idle(a) && hasMember(a, vdb.Name) && member(t, a, vdb.Name).Has(MemberInSync)
	})
	if m := member(t, a, vdb.Name); m.Slot != vdb.Slot {
		t.Errorf("re-added member in slot %d, was %d", m.Slot, vdb.Slot)
	}
}

// TestGuestIoctlRunStop assembles an array without starting it, starts it with RUN_ARRAY, and
// stops it with STOP_ARRAY while a Watcher sees md's uevents for it.
func TestGuestIoctlRunStop(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --assume-clean --size=16384")
	sh(t, "mdadm --stop /dev/md0 2>&1")

	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// mdadm --incremental with one of two members assembles the array but cannot start it.
	out := sh(t, "mdadm --incremental "+d[0]+" 2>&1")
	var name string
	waitFor(t, "an inactive array", func() (bool, string) {
		arrays, err := fs.Arrays()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range arrays {
			if a.State == ArrayInactive {
				name = a.Name
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d arrays, mdadm: %s", len(arrays), out)
	})
	t.Cleanup(func() { destroyArray(t, "/dev/"+name, d[:2]) })
	a, err := fs.Array(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Members) != 1 || a.Level != "" {
		t.Fatalf("inactive %s: %s (mdadm: %s)", name, summary(a), out)
	}
	dev := openDevice(t, "/dev/"+name)
	if err := dev.runArray(); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, name, "running degraded", func(a Array) bool { return a.Level == "raid1" && a.State != ArrayInactive })
	if a.Degraded != 1 || a.RaidDisks != 2 {
		t.Errorf("after RUN_ARRAY: %s", summary(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitEvent(ctx, t, w, name+" change (started)", func(e Event) bool {
		ae, ok := e.(*ArrayEvent)
		return ok && ae.Array == name && ae.Action == "change" && ae.Major == a.Major && ae.Minor == a.Minor
	})

	if err := dev.stopArray(); err != nil {
		t.Fatal(err)
	}
	if st := readSys("/sys/block/" + name + "/md/array_state"); st != "" && st != string(ArrayClear) {
		t.Errorf("array_state %q after STOP_ARRAY, want clear", st)
	}
	if st, err := fs.MDStat(); err != nil || len(st) != 0 {
		t.Errorf("mdstat after STOP_ARRAY: %+v, %v", st, err)
	}
	// md sends no uevent when it stops an array (mdadm --stop writes a synthetic "change");
	// "remove" comes when the last opener closes the stopped device.
	dev.Close()
	waitEvent(ctx, t, w, name+" remove", func(e Event) bool {
		ae, ok := e.(*ArrayEvent)
		return ok && ae.Array == name && ae.Action == "remove"
	})
	// A cancelled Next returns the context's error and leaves the Watcher usable.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	for {
		e, err := w.Next(cctx) // events already queued may still come first
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Next on a cancelled context: %v", err)
			}
			break
		}
		t.Logf("queued uevent %T %+v", e, e)
	}
}

// waitEvent reads events until match accepts one; ctx bounds the wait.
func waitEvent(ctx context.Context, t *testing.T, w *Watcher, what string, match func(Event) bool) {
	t.Helper()
	for {
		e, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		t.Logf("uevent %T %+v", e, e)
		if match(e) {
			return
		}
	}
}
