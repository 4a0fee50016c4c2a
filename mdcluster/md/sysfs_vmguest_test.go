//go:build vmguest

package md

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGuestReadState reads a fresh RAID1 through the package and checks it against mdadm and
// /proc/mdstat.
func TestGuestReadState(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --bitmap=internal --size=32768")
	a := waitArray(t, fs, "md0", "resync done", synced)
	if a.Level != "raid1" || a.RaidDisks != 2 || a.LastSyncAction != SyncResync || a.ComponentSize != 32768 ||
		a.MetadataVersion != "1.2" || a.Major != 9 || a.Minor != 0 {
		t.Errorf("unexpected array state %+v", a)
	}
	if a.State != ArrayClean && a.State != ArrayActive {
		t.Errorf("array_state %q, want clean or active", a.State)
	}
	if a.Bitmap == nil || a.Bitmap.Metadata != "internal" || a.Bitmap.Offset == 0 || a.Bitmap.ChunkSize == 0 {
		t.Errorf("bitmap %+v, want an internal bitmap", a.Bitmap)
	}
	for i, name := range []string{filepath.Base(d[0]), filepath.Base(d[1])} {
		m := member(t, a, name)
		if !m.Has(MemberInSync) || m.Slot != i || m.Errors != 0 {
			t.Errorf("member %+v, want in_sync in slot %d", m, i)
		}
		if dev := readSys("/sys/class/block/" + name + "/dev"); dev != fmt.Sprintf("%d:%d", m.Major, m.Minor) {
			t.Errorf("member %s is %d:%d, its block device says %s", name, m.Major, m.Minor, dev)
		}
	}
	detail := sh(t, "mdadm --detail --export /dev/md0")
	var mdadmUUID string
	for _, ln := range strings.Split(detail, "\n") {
		if v, ok := strings.CutPrefix(ln, "MD_UUID="); ok {
			mdadmUUID = v
		}
	}
	if u, err := ParseUUID(mdadmUUID); err != nil || u != a.UUID {
		t.Errorf("uuid %s, mdadm says %q (%v)", a.UUID, mdadmUUID, err)
	}
	st, err := fs.MDStat()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Name != "md0" || st[0].Type != "raid1" || st[0].DisksActive != 2 || st[0].BlocksTotal != 32768 {
		t.Errorf("mdstat %+v", st)
	}
	names, err := fs.ArrayNames()
	if err != nil || len(names) != 1 || names[0] != "md0" {
		t.Errorf("ArrayNames() = %v, %v", names, err)
	}
}

// TestGuestMemberControls fails, removes and re-adds a member through dev-X/state, and blocks
// and unblocks one.
func TestGuestMemberControls(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --bitmap=internal --size=32768")
	waitArray(t, fs, "md0", "resync done", synced)
	vda, vdb := filepath.Base(d[0]), filepath.Base(d[1])

	if err := fs.SetMemberState("md0", vda, MemberSetBlocked); err != nil {
		t.Fatal(err)
	}
	waitArray(t, fs, "md0", vda+" blocked", func(a Array) bool { return member(t, a, vda).Has(MemberBlocked) })
	if err := fs.SetMemberState("md0", vda, MemberUnblock); err != nil {
		t.Fatal(err)
	}
	waitArray(t, fs, "md0", vda+" unblocked", func(a Array) bool { return !member(t, a, vda).Has(MemberBlocked) })

	// Remove refuses a member that still has a role.
	if err := fs.SetMemberState("md0", vdb, MemberRemove); !errors.Is(err, unix.EBUSY) || !errors.Is(err, ErrWrite) {
		t.Errorf("remove an active member: got %v, want EBUSY", err)
	}
	if err := fs.SetMemberState("md0", vdb, MemberSetFaulty); err != nil {
		t.Fatal(err)
	}
	a := waitArray(t, fs, "md0", vdb+" faulty and out of its slot", func(a Array) bool {
		m := member(t, a, vdb)
		return m.Has(MemberFaulty) && m.Slot == -1
	})
	if a.Degraded != 1 {
		t.Errorf("degraded %d after failing %s, want 1", a.Degraded, vdb)
	}
	// re-add puts the failed member back; the bitmap makes the recovery short.
	if err := fs.SetMemberState("md0", vdb, MemberReAdd); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", vdb+" back in sync", func(a Array) bool { return idle(a) && member(t, a, vdb).Has(MemberInSync) })
	if m := member(t, a, vdb); m.Slot != 1 || m.Has(MemberFaulty) {
		t.Errorf("re-added member %+v, want in_sync in slot 1", m)
	}

	if err := fs.SetMemberState("md0", vdb, MemberSetFaulty); err != nil {
		t.Fatal(err)
	}
	waitArray(t, fs, "md0", vdb+" out of its slot", func(a Array) bool { return member(t, a, vdb).Slot == -1 })
	if err := fs.SetMemberState("md0", vdb, MemberRemove); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", vdb+" gone", func(a Array) bool { return !hasMember(a, vdb) })
	if a.Degraded != 1 || len(a.Members) != 1 {
		t.Errorf("after remove: degraded %d, members %+v", a.Degraded, a.Members)
	}
	sh(t, "mdadm /dev/md0 --re-add "+d[1]+" 2>&1")
	waitArray(t, fs, "md0", "recovered", func(a Array) bool { return idle(a) && hasMember(a, vdb) })
}

// TestGuestSyncControls freezes a resync, sets its window and speed limits, unfreezes it, and
// sees md hold at sync_max.
func TestGuestSyncControls(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	min, max, err := fs.SystemSpeedLimits()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fs.SetSystemSpeedLimits(min, max); err != nil {
			t.Error(err)
		}
	})
	// About 2 MB/s: the 64 MiB resync lasts long enough to be caught.
	if err := fs.SetSystemSpeedLimits(min, 2000); err != nil {
		t.Fatal(err)
	}
	if m1, m2, err := fs.SystemSpeedLimits(); err != nil || m1 != min || m2 != 2000 {
		t.Fatalf("system limits %d %d %v after setting %d 2000", m1, m2, err, min)
	}
	createArray(t, "/dev/md0", d[:2], "--level=1 --raid-devices=2 --bitmap=none --size=65536")
	waitArray(t, fs, "md0", "resync running", func(a Array) bool { return a.SyncAction == SyncResync && a.SyncCompleted != nil })

	if err := fs.SetSyncAction("md0", SyncFrozen); err != nil {
		t.Fatal(err)
	}
	a := waitArray(t, fs, "md0", "frozen", func(a Array) bool { return a.SyncAction == SyncFrozen && a.SyncCompleted == nil })
	if a.SyncSpeed != nil {
		t.Errorf("sync_speed %d while frozen, want none", *a.SyncSpeed)
	}
	// Nothing runs, so md accepts a new window.
	if err := fs.SetSyncMax("md0", 98304); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetSyncMin("md0", 0); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetSyncSpeedMax("md0", 3000); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetSyncSpeedMin("md0", 1500); err != nil {
		t.Fatal(err)
	}
	if a, err = fs.Array("md0"); err != nil {
		t.Fatal(err)
	}
	if a.SyncMax != 98304 || a.SyncMin != 0 || a.SyncSpeedMax != (SpeedLimit{3000, true}) || a.SyncSpeedMin != (SpeedLimit{1500, true}) {
		t.Errorf("after setting window and limits: sync_min %d sync_max %d speed min %+v max %+v",
			a.SyncMin, a.SyncMax, a.SyncSpeedMin, a.SyncSpeedMax)
	}
	// md refuses sync_min above sync_max.
	if err := fs.SetSyncMin("md0", 131072); !errors.Is(err, unix.EINVAL) {
		t.Errorf("sync_min above sync_max: got %v, want EINVAL", err)
	}

	// Unfreeze: the resync resumes and stops at sync_max.
	if err := fs.SetSyncAction("md0", SyncIdle); err != nil {
		t.Fatal(err)
	}
	waitArray(t, fs, "md0", "resync held at sync_max", func(a Array) bool {
		return a.SyncAction == SyncResync && a.SyncCompleted != nil && a.SyncCompleted.Done == 98304
	})
	if err := fs.SetSyncSpeedMax("md0", 0); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetSyncMax("md0", NoSyncMax); err != nil {
		t.Fatal(err)
	}
	a = waitArray(t, fs, "md0", "resync done", synced)
	if a.SyncSpeedMax != (SpeedLimit{2000, false}) || a.LastSyncAction != SyncResync || a.SyncMax != NoSyncMax {
		t.Errorf("after resync: speed max %+v, last action %q, sync_max %d", a.SyncSpeedMax, a.LastSyncAction, a.SyncMax)
	}
}

// TestGuestStopSysfs stops an array through array_state.
func TestGuestStopSysfs(t *testing.T) {
	d := guestDisks(t)
	fs := guestFS(t)
	createArray(t, "/dev/md1", d[:2], "--level=1 --raid-devices=2 --assume-clean --size=16384")
	if err := fs.Stop("md1"); err != nil {
		t.Fatal(err)
	}
	st, err := fs.MDStat()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 0 {
		t.Errorf("mdstat after stop: %+v", st)
	}
	if a, err := fs.Array("md1"); err == nil && a.State != ArrayClear {
		t.Errorf("after stop: %+v", a)
	}
}
