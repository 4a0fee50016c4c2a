//go:build !vmguest

package md

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/kobject"
)

// loadUevents reads testdata/uevents/<name>.txt: raw uevent messages captured in a lab guest,
// Go-quoted, one a line.
func loadUevents(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "uevents", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		msgs = append(msgs, []byte(s))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// decodeAll decodes the md and dlm events among msgs. SEQNUM depends on how many uevents the
// guest sent before, so after checking that it grows it is zeroed for comparison.
func decodeAll(t *testing.T, msgs [][]byte) []Event {
	t.Helper()
	var evs []Event
	for _, m := range msgs {
		env, err := ParseUevent(m)
		if err != nil {
			t.Fatalf("ParseUevent(%q): %v", m, err)
		}
		ev, ok, err := DecodeUevent(env)
		if err != nil {
			t.Fatalf("DecodeUevent(%v): %v", env, err)
		}
		if ok {
			evs = append(evs, ev)
		}
	}
	var last uint64
	for _, ev := range evs {
		if ev.Seqnum() <= last {
			t.Errorf("SEQNUM %d after %d", ev.Seqnum(), last)
		}
		last = ev.Seqnum()
		switch e := ev.(type) {
		case *ArrayEvent:
			e.Seq = 0
		case *LockspaceEvent:
			e.Seq = 0
		case *NewDiskEvent:
			e.Seq = 0
		}
	}
	return evs
}

func TestUeventCaptures(t *testing.T) {
	const ls = "c1000000-0000-0000-0000-000000000011"
	tests := []struct {
		capture string
		want    []Event
	}{{
		// mdadm --create, --fail, --remove, --re-add, --stop: member changes send no uevent, and
		// the stop only mdadm's synthetic change.
		capture: "md-lifecycle",
		want: []Event{
			&ArrayEvent{Action: "add", Array: "md0", Major: 9},
			&ArrayEvent{Action: "change", Array: "md0", Major: 9},
			&ArrayEvent{Action: "change", Array: "md0", Major: 9, Synthetic: true},
			&ArrayEvent{Action: "remove", Array: "md0", Major: 9},
		},
	}, {
		// A clustered RAID1 created and stopped on one node: mdadm's own lockspace "mdlab" and
		// md-cluster's, named after the array UUID.
		capture: "dlm-lockspace",
		want: []Event{
			&LockspaceEvent{Action: "add", Lockspace: "mdlab"},
			&LockspaceEvent{Action: "online", Lockspace: "mdlab"},
			&ArrayEvent{Action: "add", Array: "md0", Major: 9},
			&LockspaceEvent{Action: "add", Lockspace: ls},
			&LockspaceEvent{Action: "online", Lockspace: ls},
			&ArrayEvent{Action: "change", Array: "md0", Major: 9},
			&ArrayEvent{Action: "change", Array: "md0", Major: 9, Synthetic: true},
			&LockspaceEvent{Action: "offline", Lockspace: "mdlab"},
			&LockspaceEvent{Action: "remove", Lockspace: "mdlab"},
			&LockspaceEvent{Action: "offline", Lockspace: ls},
			&LockspaceEvent{Action: "remove", Lockspace: ls},
			&ArrayEvent{Action: "remove", Array: "md0", Major: 9},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, decodeAll(t, loadUevents(t, tt.capture))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeNewDisk decodes md-cluster's ADD_DEVICE requests captured on the peer of a node
// adding a disk (scripts/vm/capture-md -newdisk), one later confirmed, one refused. mdadm gives the
// new disk a random device UUID, so the UUID is checked against the text it came from.
func TestDecodeNewDisk(t *testing.T) {
	for _, name := range []string{"cluster-newdisk-confirm", "cluster-newdisk-nack"} {
		t.Run(name, func(t *testing.T) {
			msgs := loadUevents(t, name)
			if len(msgs) != 1 {
				t.Fatalf("%d uevents, want the one request", len(msgs))
			}
			env, err := ParseUevent(msgs[0])
			if err != nil {
				t.Fatal(err)
			}
			evs := decodeAll(t, msgs)
			if len(evs) != 1 {
				t.Fatalf("decoded %v", evs)
			}
			nd, ok := evs[0].(*NewDiskEvent)
			if !ok {
				t.Fatalf("decoded %T, want *NewDiskEvent", evs[0])
			}
			if nd.DeviceUUID.String() != env["DEVICE_UUID"] || nd.DeviceUUID == (UUID{}) {
				t.Errorf("DeviceUUID %s, uevent says %s", nd.DeviceUUID, env["DEVICE_UUID"])
			}
			nd.DeviceUUID = UUID{}
			if diff := cmp.Diff(&NewDiskEvent{Array: "md0", RaidDisk: 2}, nd); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	env := map[string]string{"ACTION": "change", "SUBSYSTEM": "block", "DEVNAME": "md0", "SEQNUM": "1",
		"EVENT": "ADD_DEVICE", "DEVICE_UUID": "5b3b7e0a-9d2c-4f61-8a0e-3c1d2b4a5f60", "RAID_DISK": "two"}
	if _, _, err := DecodeUevent(env); !errors.Is(err, ErrParse) {
		t.Errorf("bad RAID_DISK: got %v, want ErrParse", err)
	}
	env["RAID_DISK"], env["DEVICE_UUID"] = "2", "nope"
	if _, _, err := DecodeUevent(env); !errors.Is(err, ErrParse) {
		t.Errorf("bad DEVICE_UUID: got %v, want ErrParse", err)
	}
}

func TestDecodeIgnored(t *testing.T) {
	for _, env := range []map[string]string{
		{"ACTION": "add", "SUBSYSTEM": "bdi", "DEVPATH": "/devices/virtual/bdi/9:0", "SEQNUM": "1"},
		{"ACTION": "change", "SUBSYSTEM": "block", "DEVNAME": "vda", "DEVTYPE": "disk", "SEQNUM": "2"},
		{"ACTION": "add", "SUBSYSTEM": "block", "DEVNAME": "md0p1", "DEVTYPE": "partition", "SEQNUM": "3"},
		{"ACTION": "add", "SUBSYSTEM": "misc", "DEVNAME": "dlm_mdlab", "SEQNUM": "4"},
	} {
		if ev, ok, err := DecodeUevent(env); ev != nil || ok || err != nil {
			t.Errorf("DecodeUevent(%v) = %v, %v, %v; want ignored", env, ev, ok, err)
		}
	}
}

func TestUeventInvalid(t *testing.T) {
	for _, b := range []string{
		"",
		"libudev\x00\xfe\xed\xca\xfe",
		"change@/devices/virtual/block/md0\x00ACTION=change\x00NOEQUALS\x00",
		"change@/devices/virtual/block/md0\x00ACTION=add\x00DEVPATH=/devices/virtual/block/md0\x00",
	} {
		if _, err := ParseUevent([]byte(b)); !errors.Is(err, ErrParse) {
			t.Errorf("ParseUevent(%q): got %v, want ErrParse", b, err)
		}
	}
	for _, env := range []map[string]string{
		{"ACTION": "add", "SUBSYSTEM": "dlm", "DEVPATH": "/kernel/dlm/x", "SEQNUM": "5"},
		{"ACTION": "add", "SUBSYSTEM": "block", "DEVNAME": "md0", "SEQNUM": "x"},
		{"ACTION": "add", "SUBSYSTEM": "block", "DEVNAME": "md0", "MAJOR": "nine", "MINOR": "0"},
	} {
		if _, _, err := DecodeUevent(env); !errors.Is(err, ErrParse) {
			t.Errorf("DecodeUevent(%v): got %v, want ErrParse", env, err)
		}
	}
}

// TestKobjectEnv checks that an event as mdlayher/kobject hands it over decodes like the raw
// message it came from.
func TestKobjectEnv(t *testing.T) {
	raw := loadUevents(t, "dlm-lockspace")[6]
	env, err := ParseUevent(raw)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := strconv.Atoi(env["SEQNUM"])
	ke := &kobject.Event{Action: "online", DevicePath: "/kernel/dlm/c1000000-0000-0000-0000-000000000011",
		Subsystem: "dlm", Sequence: seq, Values: map[string]string{"LOCKSPACE": "c1000000-0000-0000-0000-000000000011"}}
	if diff := cmp.Diff(env, kobjectEnv(ke)); diff != "" {
		t.Errorf("(-raw +kobject):\n%s", diff)
	}
}

func TestIsArrayName(t *testing.T) {
	for name, want := range map[string]bool{"md0": true, "md127": true, "md_home": true,
		"md": false, "md_": false, "mda": false, "vda": false, "md0p1": false} {
		if got := isArrayName(name); got != want {
			t.Errorf("isArrayName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzUevent feeds arbitrary netlink messages to the uevent parser and decoder, seeded with the
// captured messages: no panic, and whatever decodes as a lockspace event names its lockspace and
// action, so the control plane never answers the kernel for a lockspace it cannot name.
func FuzzUevent(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "uevents"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		for _, m := range loadUevents(f, strings.TrimSuffix(e.Name(), ".txt")) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseUevent(b)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("ParseUevent error %v does not wrap ErrParse", err)
			}
			return
		}
		ev, ok, err := DecodeUevent(env)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("DecodeUevent error %v does not wrap ErrParse", err)
			}
			return
		}
		if ls, isLS := ev.(*LockspaceEvent); ok && isLS && (ls.Lockspace == "" || ls.Action == "") {
			t.Fatalf("lockspace event without a name or action: %+v from %q", ls, b)
		}
	})
}
