package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// WatchdogFires runs the fence package's crash test: the guest arms softdog with a 2 s timeout
// and stops petting it; the guest must be reset (QEMU exits: -no-reboot) within 15 s.
func WatchdogFires(ctx context.Context, l *vmlab.Lab) error {
	vm := l.Node(1)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	go vm.Run(cctx, "cd /tmp && MDLAB_GUEST=1 /lab/tests/mdcluster-fence.test -test.v -test.run '^"+CrashTestPrefix+"WatchdogFires$' 2>&1")
	select {
	case <-vm.Done():
	case <-time.After(30 * time.Second):
		return fmt.Errorf("guest still running 30 s after it abandoned a 2 s watchdog")
	}
	took := time.Since(start)
	l.Logf("node1: reset by the watchdog %.1fs after the test started", took.Seconds())
	if !strings.Contains(vm.ConsoleTail(200), "softdog") {
		return fmt.Errorf("guest died, but its console shows no softdog reset:\n%s", vm.ConsoleTail(20))
	}
	return nil
}
