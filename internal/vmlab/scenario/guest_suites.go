package scenario

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// GuestTestOptions is the lab one guest-test binary runs in: one guest, four blank shared disks
// (/dev/vda to /dev/vdd), and user networking.
var GuestTestOptions = vmlab.Options{Nodes: 1, Disks: 4, UserNet: true}

// GuestTestDisks is what guest tests find in $MDLAB_DISKS.
const GuestTestDisks = "/dev/vda /dev/vdb /dev/vdc /dev/vdd"

// GuestTestBinaries lists the test binaries `make guest-tests` compiled from the packages that
// have `vmguest` tests; the initramfs carries them under /lab/tests.
func GuestTestBinaries() ([]string, error) {
	dir, _, _, err := vmlab.Paths()
	if err != nil {
		return nil, err
	}
	bins, err := filepath.Glob(filepath.Join(dir, "guest-tests", "*.test"))
	for i, b := range bins {
		bins[i] = filepath.Base(b)
	}
	return bins, err
}

// CrashTestPrefix marks guest tests that end the guest on purpose (a watchdog reset, a panic):
// the plain guest suite skips them and dedicated scenarios run them.
const CrashTestPrefix = "TestGuestCrash"

// RunGuestTest runs one guest-test binary on node with `go test` flags (e.g. -test.run) and
// returns its output. The binary's own -test.timeout is set a little below the step's.
func RunGuestTest(ctx context.Context, l *vmlab.Lab, node int, binary string, timeout time.Duration, flags ...string) (string, error) {
	inner := timeout - 15*time.Second
	cmd := fmt.Sprintf("cd /tmp && MDLAB_GUEST=1 MDLAB_DISKS=%q /lab/tests/%s -test.v -test.count=1 -test.timeout=%s %s 2>&1",
		GuestTestDisks, binary, inner, strings.Join(flags, " "))
	r, err := l.Step(ctx, node, timeout, "guest test "+binary+" "+strings.Join(flags, " "), cmd)
	return r.Stdout, err
}
