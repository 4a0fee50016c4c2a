// Package guesttest holds what the tests that run inside a VM lab guest (build tag vmguest,
// compiled by `make guest-tests` and run by the scenario GuestSuites) share: the lab's blank
// disks and a shell step that fails the test.
package guesttest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Disks returns the lab's blank shared disks ($MDLAB_DISKS, at least four), skipping the test
// outside a lab guest ($MDLAB_GUEST is not 1).
func Disks(t testing.TB) []string {
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

// Sh runs cmd with sh -c and returns its combined output; a non-zero exit fails the test with
// the command and its output.
func Sh(t testing.TB, cmd string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}
