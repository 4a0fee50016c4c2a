//go:build vmguest

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/cmd/mdcadm/internal/cli"
	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
	"mdcluster.dev/internal/guesttest"
)

// These tests run in a VM lab guest (Debian's 6.1 kernel, mdadm 4.2-5, four
// blank disks): they create arrays with the real mdadm and compare mdcadm's
// read-only modes with mdadm's output in the same guest, byte for byte.

func guestDisks(t *testing.T) []string { t.Helper(); return guesttest.Disks(t) }

func sh(t *testing.T, cmd string) string { t.Helper(); return guesttest.Sh(t, cmd) }

// mdadm runs the real mdadm and returns stdout, stderr and the exit code.
func mdadm(args ...string) (string, string, int) {
	var o, e bytes.Buffer
	cmd := exec.Command("mdadm", args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	rc := 0
	if x, ok := err.(*exec.ExitError); ok {
		rc = x.ExitCode()
	} else if err != nil {
		rc = -1
	}
	return o.String(), e.String(), rc
}

// mdcadm runs this package's command in-process.
func mdcadm(args ...string) (string, string, int) {
	var o, e bytes.Buffer
	env := cli.DefaultEnv()
	env.Stdout, env.Stderr = &o, &e
	rc := cli.Run(args, env)
	return o.String(), e.String(), rc
}

// same compares mdcadm with mdadm for args. The array may change between
// the two calls (a superblock update moves Update Time and Events), so
// mdadm runs before and after mdcadm; when both agree mdcadm must match.
func same(t *testing.T, args ...string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		o1, e1, rc1 := mdadm(args...)
		o, e, rc := mdcadm(args...)
		o2, e2, rc2 := mdadm(args...)
		if o1 != o2 || e1 != e2 || rc1 != rc2 {
			continue
		}
		want := fmt.Sprintf("%s--stderr--\n%s--rc=%d\n", o1, e1, rc1)
		got := fmt.Sprintf("%s--stderr--\n%s--rc=%d\n", o, e, rc)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mdcadm %s differs from mdadm (-mdadm +mdcadm):\n%s", strings.Join(args, " "), diff)
		}
		return o1
	}
	t.Fatalf("mdadm %s gives a different answer each time", strings.Join(args, " "))
	return ""
}

// array creates an array with mdadm (args end with the devices) and
// registers its removal and the wiping of members.
func array(t *testing.T, dev string, members []string, args ...string) {
	t.Helper()
	t.Cleanup(func() {
		out, _ := exec.Command("sh", "-c", "mdadm --stop "+dev+" 2>&1; for d in "+
			strings.Join(members, " ")+"; do [ -b $d ] && mdadm --zero-superblock $d 2>&1; done; true").CombinedOutput()
		t.Logf("cleanup %s: %s", dev, strings.TrimSpace(string(out)))
	})
	sh(t, "mdadm --create "+dev+" --run "+strings.Join(args, " ")+" 2>&1")
	sh(t, "udevadm settle 2>/dev/null; true")
}

// compareAll checks every read-only mode on the array and its members.
func compareAll(t *testing.T, dev string, members []string) {
	t.Helper()
	out := same(t, "--detail", dev)
	t.Logf("mdadm --detail %s:\n%s", dev, out)
	same(t, "--detail", "--scan")
	same(t, "-Ds", "-v")
	same(t, "--detail", "--brief", dev)
	same(t, "-Db", "-v", dev)
	same(t, "--detail", "--export", dev)
	same(t, "--detail", "--test", dev) // exit 1 when degraded, 2 when it cannot run
	same(t, "-Q", dev)
	same(t, "--detail", members[0]) // a member is not an md device
	same(t, "--detail", dev, "--query", dev)
	for _, m := range members {
		if m == "missing" {
			continue
		}
		same(t, "--query", m)
		same(t, "--examine", m)
		same(t, "--examine-bitmap", m)
		same(t, "-Xb", m)
		same(t, "-Eb", m)
	}
	same(t, "--examine", "--scan")
	if t.Failed() {
		t.Logf("/proc/partitions:\n%s", sh(t, "cat /proc/partitions"))
		o, _, _ := mdcadm("--examine", "--scan", "--verbose")
		t.Logf("mdcadm -Esv:\n%s", o)
		o, _, _ = mdadm("--examine", "--scan", "--verbose")
		t.Logf("mdadm -Esv:\n%s", o)
	}
}

func TestGuestDetailRAID1Bitmap(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md0", d[:2], "--metadata=1.2 --level=1 -n2 --bitmap=internal --assume-clean --name=r1 "+d[0]+" "+d[1])
	compareAll(t, "/dev/md0", d[:2])
	sh(t, "dd if=/dev/urandom of=/dev/md0 bs=64k count=16 oflag=direct 2>&1")
	compareAll(t, "/dev/md0", d[:2])

	o, e, rc := mdcadm("--detail", "--json", "/dev/md0")
	var j mdadmview.DetailJSON
	if err := json.Unmarshal([]byte(o), &j); err != nil || rc != 0 {
		t.Fatalf("--detail --json: rc %d, %v\n%s%s", rc, err, o, e)
	}
	text, _, _ := mdadm("--detail", "/dev/md0")
	for _, want := range []string{"Raid Level : " + j.Level, "UUID : " + j.UUID, "Raid Devices : 2", "Intent Bitmap : Internal"} {
		if !strings.Contains(text, want) {
			t.Errorf("--json gave %q, mdadm --detail has no such line:\n%s", want, text)
		}
	}
	if len(j.Members) != 2 || j.Members[0].Device != d[0] || j.Bitmap != "internal" {
		t.Errorf("--json members %+v, bitmap %q", j.Members, j.Bitmap)
	}
	o, _, _ = mdcadm("--detail", "--scan", "--json")
	var all []mdadmview.DetailJSON
	for dec := json.NewDecoder(strings.NewReader(o)); dec.More(); {
		var x mdadmview.DetailJSON
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("--detail --scan --json: %v\n%s", err, o)
		}
		all = append(all, x)
	}
	if len(all) != 1 || all[0].UUID != j.UUID {
		t.Errorf("--detail --scan --json gave %d arrays:\n%s", len(all), o)
	}
}

func TestGuestDetailRAID1Metadata10(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md1", d[:2], "--metadata=1.0 --level=mirror --raid-devices=2 --bitmap=internal --assume-clean "+d[0]+" "+d[1])
	compareAll(t, "/dev/md1", d[:2])
}

func TestGuestDetailRAID5(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md2", d[:3], "-e1.2 -l5 -n3 -c64 --bitmap=none --assume-clean "+strings.Join(d[:3], " "))
	compareAll(t, "/dev/md2", d[:3])
}

func TestGuestDetailRAID10(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md3", d[:4], "--level=raid10 --raid-devices=4 --chunk=128 --bitmap=internal --assume-clean "+strings.Join(d[:4], " "))
	compareAll(t, "/dev/md3", d[:4])
}

func TestGuestDetailDegradedRAID1(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md4", []string{d[0], d[1], d[2]}, "-l1 -n3 --bitmap=internal --assume-clean "+d[0]+" "+d[1]+" missing")
	compareAll(t, "/dev/md4", []string{d[0], d[1], "missing"})
	sh(t, "mdadm /dev/md4 --fail "+d[1]+" 2>&1")
	compareAll(t, "/dev/md4", d[:2])
	sh(t, "mdadm /dev/md4 --remove "+d[1]+" 2>&1; mdadm /dev/md4 --add "+d[2]+" 2>&1; sleep 1")
	same(t, "--detail", "--scan")
}

func TestGuestDetailNoBitmapTwoArrays(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md5", d[:2], "-l1 -n2 --bitmap=none --assume-clean "+d[0]+" "+d[1])
	array(t, "/dev/md6", d[2:4], "--metadata=1.0 -l1 -n2 --bitmap=none --assume-clean "+d[2]+" "+d[3])
	compareAll(t, "/dev/md5", d[:2])
	compareAll(t, "/dev/md6", d[2:4])
}

// TestGuestResync compares --detail while md resyncs, held at sync_max so
// the percentage does not move between the calls.
func TestGuestResync(t *testing.T) {
	d := guestDisks(t)
	sh(t, "echo 1 > /proc/sys/dev/raid/speed_limit_min; echo 1000 > /proc/sys/dev/raid/speed_limit_max")
	t.Cleanup(func() {
		sh(t, "echo 1000 > /proc/sys/dev/raid/speed_limit_min; echo 200000 > /proc/sys/dev/raid/speed_limit_max")
	})
	array(t, "/dev/md7", d[:2], "-l1 -n2 --bitmap=none "+d[0]+" "+d[1])
	sh(t, "echo frozen > /sys/block/md7/md/sync_action; echo 65536 > /sys/block/md7/md/sync_max; "+
		"echo 200000 > /proc/sys/dev/raid/speed_limit_max; echo idle > /sys/block/md7/md/sync_action")
	sh(t, "for i in $(seq 300); do grep -q '^65536 ' /sys/block/md7/md/sync_completed && break; sleep 0.2; done; cat /proc/mdstat")
	out := same(t, "--detail", "/dev/md7")
	t.Logf("mdadm --detail /dev/md7:\n%s", out)
	if !strings.Contains(out, "resyncing") || !strings.Contains(out, "Resync Status : ") {
		t.Errorf("the array is not resyncing; the test compared nothing interesting")
	}
	same(t, "--detail", "--scan")
}

// TestGuestDetailClustered compares a clustered RAID1 (one node; mdclusterd
// runs the kernel DLM, see scripts/vm/guest/mdcluster-solo.sh):
// Internal(Clustered), the Cluster Name line, the bitmap-dirty State and
// every slot of -X.
func TestGuestDetailClustered(t *testing.T) {
	d := guestDisks(t)
	sh(t, "/lab/mdcluster-solo.sh 2>&1")
	array(t, "/dev/md8", d[:2], "--metadata=1.2 -l1 -n2 --bitmap=clustered --nodes=4 --assume-clean "+d[0]+" "+d[1])
	out := same(t, "--detail", "/dev/md8")
	if !strings.Contains(out, "Internal(Clustered)") || !strings.Contains(out, "Cluster Name : ") {
		t.Errorf("not a clustered array:\n%s", out)
	}
	sh(t, "dd if=/dev/urandom of=/dev/md8 bs=64k count=4 seek=100 oflag=direct 2>&1")
	compareAll(t, "/dev/md8", d[:2])
}

// TestGuestDetailSpareAndRecovery compares a RAID1 with a spare, then a
// recovery held at sync_max (spare rebuilding, Rebuild Status).
func TestGuestDetailSpareAndRecovery(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md9", d[:3], "-l1 -n2 --bitmap=internal --assume-clean "+d[0]+" missing")
	sh(t, "echo 1 > /proc/sys/dev/raid/speed_limit_min; echo 1000 > /proc/sys/dev/raid/speed_limit_max")
	t.Cleanup(func() {
		sh(t, "echo 1000 > /proc/sys/dev/raid/speed_limit_min; echo 200000 > /proc/sys/dev/raid/speed_limit_max")
	})
	sh(t, "mdadm /dev/md9 --add "+d[2]+" 2>&1") // becomes the missing member: recovery
	sh(t, "echo frozen > /sys/block/md9/md/sync_action; echo 65536 > /sys/block/md9/md/sync_max; "+
		"echo 200000 > /proc/sys/dev/raid/speed_limit_max; echo idle > /sys/block/md9/md/sync_action")
	sh(t, "for i in $(seq 300); do grep -q '^65536 ' /sys/block/md9/md/sync_completed && break; sleep 0.2; done; cat /proc/mdstat")
	out := same(t, "--detail", "/dev/md9")
	t.Logf("mdadm --detail /dev/md9:\n%s", out)
	if !strings.Contains(out, "spare rebuilding") || !strings.Contains(out, "Rebuild Status : ") {
		t.Errorf("no recovery to compare")
	}
	same(t, "--detail", "--scan")
	same(t, "-Dbv", "/dev/md9")
	same(t, "--query", d[2])
	sh(t, "mdadm /dev/md9 --add "+d[1]+" 2>&1") // a spare while the recovery is held
	out = same(t, "--detail", "/dev/md9")
	if !strings.Contains(out, "Spare Devices : 2") { // the rebuilding one and the new spare
		t.Errorf("no spare to compare:\n%s", out)
	}
	same(t, "--detail", "--brief", "/dev/md9")
	same(t, "--examine", "--scan")
}

// TestGuestDetailInactive compares an array that mdadm --incremental left
// inactive with one of its two members.
func TestGuestDetailInactive(t *testing.T) {
	d := guestDisks(t)
	array(t, "/dev/md10", d[:2], "-l1 -n2 --bitmap=internal --assume-clean --name=inact "+d[0]+" "+d[1])
	sh(t, "mdadm --stop /dev/md10 2>&1")
	sh(t, "mdadm --incremental "+d[0]+" 2>&1; true")
	name := strings.TrimSpace(sh(t, "for a in /sys/block/md*; do [ \"$(cat $a/md/array_state)\" = inactive ] && basename $a; done; true"))
	if name == "" {
		t.Fatalf("no inactive array:\n%s", sh(t, "cat /proc/mdstat"))
	}
	t.Cleanup(func() { sh(t, "mdadm --stop /dev/"+name+" 2>&1; true") })
	out := same(t, "--detail", "/dev/"+name)
	t.Logf("mdadm --detail /dev/%s:\n%s", name, out)
	same(t, "--detail", "--scan")
	same(t, "--query", "/dev/"+name)
	same(t, "--query", d[0])
}
