package vmlab

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Restart boots a fresh guest for node n on the same disks and network, after the old one has
// exited (crashed, killed, powered off or rebooted: QEMU runs with -no-reboot): the node
// "reboots". A Debian guest boots its own root image again. The old console log is kept as
// nodeN.console.log.<k>.
func (l *Lab) Restart(ctx context.Context, n int) (*VM, error) {
	old := l.Node(n)
	if !old.Exited() {
		return nil, fmt.Errorf("vmlab: node %d is still running", n)
	}
	cfg := l.vmConfig(n, old.Boot+1)
	for k := 1; ; k++ {
		p := fmt.Sprintf("%s.%d", cfg.consolePath(), k)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if err := os.Rename(cfg.consolePath(), p); err != nil {
				return nil, fmt.Errorf("vmlab: keep node %d console: %w", n, err)
			}
			break
		}
	}
	bctx, cancel := context.WithTimeout(ctx, l.bootTimeout())
	defer cancel()
	vm, err := StartVM(bctx, cfg)
	if err != nil {
		return nil, err
	}
	l.VMs[n-1] = vm
	if err := l.waitBooted(bctx, vm, "rebooted"); err != nil {
		return nil, err
	}
	return vm, nil
}

func (l *Lab) bootTimeout() time.Duration {
	if l.opts.BootTimeout == 0 {
		return 3 * time.Minute
	}
	return l.opts.BootTimeout
}
