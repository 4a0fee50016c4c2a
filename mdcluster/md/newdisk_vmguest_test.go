//go:build vmguest

package md

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newDisk makes TestCaptureNewDisk answer md-cluster's next new-disk request: "confirm" (the
// disk is found and confirmed with ADD_NEW_DISK, state DiskCandidate) or "nack"
// (CLUSTERED_DISK_NACK). internal/capture runs it on the peer of the node that adds the disk.
var newDisk = flag.String("md.newdisk", "", "answer the next md-cluster new-disk request: confirm or nack")

// newDiskReady is created once the test listens, so the host knows when to start the add.
const newDiskReady = "/tmp/md-newdisk-listening"

// TestCaptureNewDisk waits for md-cluster's ADD_DEVICE uevent on this node, answers it through
// the package, prints the raw uevents seen, and checks the kernel's view afterwards.
func TestCaptureNewDisk(t *testing.T) {
	if *newDisk == "" {
		t.Skip("run with -md.newdisk=confirm|nack (a two-node clustered lab, see internal/capture)")
	}
	d := guestDisks(t)
	fs := guestFS(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ev *NewDiskEvent
	raw := recordUevents(t, func() {
		if err := os.WriteFile(newDiskReady, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for ev == nil {
			e, err := w.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for a new-disk request: %v", err)
			}
			ev, _ = e.(*NewDiskEvent)
		}
		t.Logf("new-disk request %+v", ev)
		dev := openDevice(t, "/dev/"+ev.Array)
		if *newDisk == "nack" {
			if err := dev.ClusteredDiskNack(); err != nil {
				t.Fatal(err)
			}
			return
		}
		path := findDeviceUUID(t, d, ev.DeviceUUID)
		major, minor, err := parseDevNum(readSys("/sys/class/block/" + filepath.Base(path) + "/dev"))
		if err != nil {
			t.Fatal(err)
		}
		err = dev.AddNewDisk(DiskInfo{Number: int32(ev.RaidDisk), Major: int32(major), Minor: int32(minor), State: DiskCandidate})
		if err != nil {
			t.Fatal(err)
		}
	})
	printUevents("uevents-cluster-newdisk-"+*newDisk, filterUevents(raw, "EVENT=ADD_DEVICE"))
	if ev == nil {
		t.Fatal("no new-disk request")
	}
	a, err := fs.Array(ev.Array)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %s: %s", *newDisk, summary(a))
}

// findDeviceUUID returns the disk whose md superblock has the device UUID u (mdadm --examine
// reads it; md-cluster's peers do the same, by blkid, in the kernel's design).
func findDeviceUUID(t *testing.T, disks []string, u UUID) string {
	t.Helper()
	sh(t, "echo 3 > /proc/sys/vm/drop_caches")
	for _, dsk := range disks {
		out, _ := exec.Command("mdadm", "--examine", "--export", dsk).Output()
		for _, ln := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(ln, "MD_DEV_UUID="); ok {
				if du, err := ParseUUID(v); err == nil && du == u {
					return dsk
				}
			}
		}
	}
	t.Fatalf("no disk among %v has device UUID %s", disks, u)
	return ""
}

// filterUevents keeps the raw messages that contain field.
func filterUevents(msgs [][]byte, field string) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if strings.Contains(string(m), "\x00"+field+"\x00") {
			out = append(out, m)
		}
	}
	return out
}
