//go:build vmguest

package md

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/internal/guesttest"
)

// guestDisks returns the lab's blank shared disks, skipping outside a lab guest.
func guestDisks(t *testing.T) []string { t.Helper(); return guesttest.Disks(t) }

// sh runs a shell command in the guest, fails the test if it exits non-zero, and returns its
// trimmed output.
func sh(t *testing.T, cmd string) string { t.Helper(); return strings.TrimSpace(guesttest.Sh(t, cmd)) }

// createArray runs mdadm --create for dev with args and registers a cleanup that stops the
// array and wipes the members' superblocks, so the next test starts from blank disks.
func createArray(t *testing.T, dev string, members []string, args ...string) {
	t.Helper()
	t.Cleanup(func() { destroyArray(t, dev, members) })
	sh(t, "mdadm --create "+dev+" --run --metadata=1.2 "+strings.Join(args, " ")+" "+strings.Join(members, " ")+" 2>&1")
}

func destroyArray(t *testing.T, dev string, members []string) {
	t.Helper()
	out, _ := exec.Command("sh", "-c", "mdadm --stop "+dev+" 2>&1; for d in "+
		strings.Join(members, " ")+"; do [ -b $d ] && mdadm --zero-superblock $d 2>&1; done; true").CombinedOutput()
	t.Logf("cleanup %s: %s", dev, strings.TrimSpace(string(out)))
}

// waitFor polls cond until it holds, failing the test with what after a generous bound (TCG
// guests on a shared host are slow; the bound only keeps a broken kernel from hanging the test).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var seen []string // the last distinct states, printed if the wait fails
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ok, st := cond()
		if ok {
			return
		}
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
			if len(seen) > 12 {
				seen = seen[1:]
			}
		}
	}
	t.Fatalf("timed out waiting for %s; last states seen:\n%s", what, strings.Join(seen, "\n"))
}

// readSys reads one sysfs file, trimmed, or "" when it is unreadable.
func readSys(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// waitArray polls the array through the package until cond holds, and returns that state.
func waitArray(t *testing.T, fs FS, name, what string, cond func(Array) bool) Array {
	t.Helper()
	var a Array
	waitFor(t, name+": "+what, func() (bool, string) {
		var err error
		if a, err = fs.Array(name); err != nil {
			return false, err.Error()
		}
		return cond(a), summary(a)
	})
	return a
}

// summary is a one-line view of a's state for failure messages.
func summary(a Array) string {
	s := fmt.Sprintf("%s %s action=%s last=%s degraded=%d sync_min=%d sync_max=%d", a.Name, a.State,
		a.SyncAction, a.LastSyncAction, a.Degraded, a.SyncMin, a.SyncMax)
	if p := a.SyncCompleted; p != nil {
		s += fmt.Sprintf(" completed=%d/%d delayed=%v", p.Done, p.Total, p.Delayed)
	}
	for _, m := range a.Members {
		s += fmt.Sprintf(" %s=%v@%d", m.Name, m.State, m.Slot)
	}
	return s
}

// idle is the state of an array with nothing to sync.
func idle(a Array) bool { return a.SyncAction == SyncIdle && a.Degraded == 0 }

// synced is the state of a new array whose first resync finished: right after mdadm --create,
// sync_action can still read idle before md starts the resync.
func synced(a Array) bool { return idle(a) && a.LastSyncAction != SyncNone }

// member returns the named member of a, or fails.
func member(t *testing.T, a Array, name string) Member {
	t.Helper()
	for _, m := range a.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no member %s: %+v", a.Name, name, a.Members)
	return Member{}
}

func hasMember(a Array, name string) bool {
	for _, m := range a.Members {
		if m.Name == name {
			return true
		}
	}
	return false
}

// guestFS returns the package's view of the guest's kernel.
func guestFS(t *testing.T) FS {
	t.Helper()
	fs, err := NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
