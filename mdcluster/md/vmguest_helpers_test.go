//go:build vmguest

package md

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// guestDisks returns the lab's blank shared disks ($MDLAB_DISKS), skipping outside a lab guest.
func guestDisks(t *testing.T) []string {
	t.Helper()
	if os.Getenv("MDLAB_GUEST") != "1" {
		t.Skip("not in a VM lab guest (MDLAB_GUEST != 1)")
	}
	d := strings.Fields(os.Getenv("MDLAB_DISKS"))
	if len(d) < 4 {
		t.Fatalf("MDLAB_DISKS=%q: want 4 disks", os.Getenv("MDLAB_DISKS"))
	}
	return d
}

// sh runs a shell command in the guest and fails the test if it exits non-zero.
func sh(t *testing.T, cmd string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

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
	var last string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("timed out waiting for %s (last: %s)", what, last)
}

// readSys reads one sysfs file, trimmed, or "" when it is unreadable.
func readSys(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
