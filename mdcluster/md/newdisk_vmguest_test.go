//go:build vmguest

package md

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

// newDisk names the answer that mdclusterd on this node gives md-cluster's next new-disk request
// ("confirm": the disk is found and confirmed with ADD_NEW_DISK, state DiskCandidate; "nack":
// it is not visible here, CLUSTERED_DISK_NACK). scripts/vm/capture-md runs the test on the peer of
// the node that adds the disk; the agent answers through this package.
var newDisk = flag.String("md.newdisk", "", "the answer mdclusterd gives the next md-cluster new-disk request: confirm or nack")

// newDiskReady is created once the test listens, so the host knows when to start the add.
const newDiskReady = "/tmp/md-newdisk-listening"

// TestCaptureNewDisk waits for md-cluster's ADD_DEVICE uevent on this node through the package's
// Watcher, waits for the agent's answer (its log), prints the raw uevents seen, and logs the
// kernel's view afterwards.
func TestCaptureNewDisk(t *testing.T) {
	if *newDisk == "" {
		t.Skip("run with -md.newdisk=confirm|nack (a two-node clustered lab, see scripts/vm/capture-md)")
	}
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
		want := map[string]string{"confirm": "confirmed new disk", "nack": "new disk refused: NACK"}[*newDisk]
		waitFor(t, "mdclusterd's answer: "+want, func() (bool, string) {
			b, _ := os.ReadFile("/tmp/mdclusterd.log")
			return strings.Contains(string(b), want), ""
		})
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
