package monitor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/md"
)

// The program gets mdadm's arguments (two without a component), and the extra environment;
// a mailed event (Fail…) goes through the mailer with mdadm's headers; other events are not
// mailed; with neither, a line on stdout.
func TestAlerter(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	prog := filepath.Join(dir, "prog")
	os.WriteFile(prog, []byte("#!/bin/sh\necho \"$#|$1|$2|$3|$MDCLUSTER_EVENT_ID|$MDCLUSTER_NODE\" >> "+log+"\n"), 0o755)
	mailer := filepath.Join(dir, "sendmail")
	mailLog := filepath.Join(dir, "mail")
	os.WriteFile(mailer, []byte("#!/bin/sh\necho \"args: $*\" >> "+mailLog+"\ncat >> "+mailLog+"\n"), 0o755)
	mdstat := filepath.Join(dir, "mdstat")
	os.WriteFile(mdstat, []byte("Personalities : [raid1]\n"), 0o644)
	var warn strings.Builder
	a := &Alerter{Program: prog, MailAddr: "ops@example.com", Hostname: "node1", Sendmail: mailer + " -t", Mdstat: mdstat,
		Env: []string{"MDCLUSTER_NODE=node1"}, Now: time.Now, Warn: &warn, Stdout: &warn}
	a.Send(Event{Name: "Fail", Dev: "/dev/md0", Disc: "/dev/vdb"}, "MDCLUSTER_EVENT_ID=u:7")
	a.Send(Event{Name: "RebuildFinished", Dev: "/dev/md0", Disc: " mismatches found: 8 (on raid level 1)"})
	a.Send(Event{Name: "NewArray", Dev: "/dev/md0"})
	want := []string{"3|Fail|/dev/md0|/dev/vdb|u:7|node1", "3|RebuildFinished|/dev/md0| mismatches found: 8 (on raid level 1)||node1",
		"2|NewArray|/dev/md0|||node1"}
	b, _ := os.ReadFile(log)
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, want) {
		t.Fatalf("program runs %q, want %q", got, want)
	}
	m, _ := os.ReadFile(mailLog)
	for _, w := range []string{"args: -t\n", "From: mdadm monitoring <root>\nTo: ops@example.com\nSubject: Fail event on /dev/md0:node1\n",
		"It could be related to component device /dev/vdb.", "P.S. The /proc/mdstat file currently contains the following:\n\nPersonalities : [raid1]"} {
		if !strings.Contains(string(m), w) {
			t.Errorf("mail lacks %q:\n%s", w, m)
		}
	}
	if strings.Count(string(m), "Subject:") != 1 {
		t.Errorf("only Fail is mailed:\n%s", m)
	}
	var out strings.Builder
	quiet := &Alerter{Stdout: &out, Now: func() time.Time { return time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC) }, Warn: &warn}
	quiet.Send(Event{Name: "DegradedArray", Dev: "/dev/md1"})
	if out.String() != "Mar  1 02:03:04: DegradedArray on /dev/md1 unknown device\n" {
		t.Fatalf("stdout %q", out.String())
	}
	a.Program = filepath.Join(dir, "missing")
	a.Send(Event{Name: "Fail", Dev: "/dev/md0"})
	if !strings.Contains(warn.String(), "alert program") {
		t.Fatalf("a failed program is not reported: %q", warn.String())
	}
	if !mailed("FailSpare") || !mailed("TestMessage") || !mailed("SparesMissing") || !mailed("DegradedArray") || mailed("SpareActive") {
		t.Fatal("mailed events")
	}
}

// arrays is a Reader over several arrays by kernel name.
type arrays struct {
	snaps  map[string]Snapshot
	levels map[string]string
}

func (r *arrays) Mdstat() []md.MdstatEntry {
	var out []md.MdstatEntry
	for _, n := range []string{"md0", "md1", "md2"} {
		if _, ok := r.snaps[n]; ok {
			out = append(out, md.MdstatEntry{Devnm: n, Percent: percentNone})
		}
	}
	return out
}
func (r *arrays) Look(dev string, _ []md.MdstatEntry) Snapshot {
	s, ok := r.snaps[strings.TrimPrefix(dev, "/dev/")]
	if !ok {
		return Snapshot{Gone: true}
	}
	return s
}
func (r *arrays) UUID(devnm string) string    { return "u-" + devnm }
func (r *arrays) DevName(devnm string) string { return "/dev/" + devnm }
func (r *arrays) Clustered(string) bool       { return false }

// --scan finds the arrays /proc/mdstat lists (not RAID0), says NewArray at once; --oneshot
// stops after that; with nothing to watch the monitor stops as mdadm does.
func TestRunScan(t *testing.T) {
	r0 := raid1(1, percentNone, inSync, inSync)
	r0.Devnm = "md0"
	r1 := raid1(1, percentNone, inSync, diskRemoved)
	r1.Devnm = "md1"
	r := &arrays{snaps: map[string]Snapshot{"md0": r0, "md1": r1, "md2": {}}, levels: map[string]string{"md2": "raid0"}}
	var out, warn strings.Builder
	m := &Monitor{Opt: Options{Scan: true, Oneshot: true, Test: true}, Read: r, Warn: &warn,
		Alert: &Alerter{Stdout: &out, Now: time.Now, Warn: &warn},
		Level: func(devnm string) (string, bool) { return r.levels[devnm], true }}
	if rc := m.Run(context.Background()); rc != 0 {
		t.Fatal(rc)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		_, rest, _ := strings.Cut(l, ": ")
		got = append(got, rest)
	}
	want := []string{"TestMessage on /dev/md0 unknown device", "TestMessage on /dev/md1 unknown device",
		"NewArray on /dev/md0 unknown device", "NewArray on /dev/md1 unknown device", "DegradedArray on /dev/md1 unknown device"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	empty := &Monitor{Opt: Options{Scan: true}, Read: &arrays{}, Warn: &warn, Alert: m.Alert, Wait: func(context.Context, time.Duration) {}}
	if rc := empty.Run(context.Background()); rc != 0 || !strings.Contains(warn.String(), "No array with redundancy detected, stopping") {
		t.Fatalf("no arrays: %d %q", rc, warn.String())
	}
}

// A degraded array without a spare gets one from an array of its spare group that has one:
// MoveSpare, reported on the array that got it.
func TestMoveSpare(t *testing.T) {
	donor := raid1(1, percentNone, inSync, inSync, spare)
	donor.Devnm = "md0"
	needy := raid1(1, percentNone, inSync, diskRemoved)
	needy.Devnm = "md1"
	r := &arrays{snaps: map[string]Snapshot{"md0": donor, "md1": needy}}
	var out, warn strings.Builder
	var moved []string
	m := &Monitor{Opt: Options{Devices: []string{"/dev/md0", "/dev/md1"}, Oneshot: true, Share: true,
		Config: []ConfArray{{Dev: "/dev/md0", Spares: 1, SpareGroup: "g"}, {Dev: "/dev/md1", Spares: -1, SpareGroup: "g"}}},
		Read: r, Warn: &warn, Alert: &Alerter{Stdout: &out, Now: time.Now, Warn: &warn},
		MoveSpare: func(from, to, dev string) bool { moved = append(moved, from+" "+to+" "+dev); return true }}
	m.Run(context.Background())
	if !slices.Equal(moved, []string{"/dev/md0 /dev/md1 /dev/vdc"}) || !strings.Contains(out.String(), "MoveSpare on /dev/md1 /dev/md0") {
		t.Fatalf("moved %q, events %q", moved, out.String())
	}
}
