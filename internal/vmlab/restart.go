package vmlab

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Restart boots a fresh guest for node n on the same disks and network, after the old one has
// exited (crashed or killed): the node "reboots". The old console log is kept as
// nodeN.console.log.<k>.
func (l *Lab) Restart(ctx context.Context, n int) (*VM, error) {
	old := l.Node(n)
	if !old.Exited() {
		return nil, fmt.Errorf("vmlab: node %d is still running", n)
	}
	_, kernel, initrd, err := Paths()
	if err != nil {
		return nil, err
	}
	cfg := VMConfig{Node: n, Nodes: l.opts.Nodes, Kernel: kernel, Initrd: initrd, Disks: l.Disks,
		UserNet: l.opts.UserNet, RunDir: l.Dir, Append: l.opts.Append, Stream: l.opts.Stream,
		Boot: old.Boot + 1}
	if l.Hub != nil {
		cfg.Hub = l.Hub.Addr()
	}
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
	kr, err := vm.WaitReady(bctx)
	if err != nil {
		return nil, err
	}
	l.Logf("node%d: rebooted kernel %s", n, kr)
	return vm, nil
}

func (l *Lab) bootTimeout() time.Duration {
	if l.opts.BootTimeout == 0 {
		return 3 * time.Minute
	}
	return l.opts.BootTimeout
}
