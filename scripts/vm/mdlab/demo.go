package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/internal/vmlab/scenario"
)

// demo boots the two-guest cluster and narrates the clustered RAID1 scenario, one timestamped
// line per step.
func demo(ctx context.Context, keep bool) error {
	if keep {
		os.Setenv("MDCLUSTER_LAB_KEEP", "1")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	o := scenario.ClusteredRAID1Options
	o.Log = os.Stdout
	fmt.Println("mdcluster demo: two QEMU guests running Debian's kernel share two disks; clustered RAID1 (md-cluster)")
	l, err := vmlab.Start(ctx, "demo", o)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := scenario.ClusteredRAID1(ctx, l); err != nil {
		for _, vm := range l.VMs {
			fmt.Fprintf(os.Stderr, "--- node%d console (tail)\n%s\n", vm.Node, vm.ConsoleTail(30))
		}
		return err
	}
	l.Logf("demo complete: node2's last write survived its crash; node1 recovered its bitmap slot")
	if keep {
		l.Logf("run directory kept: %s", l.Dir)
	}
	return nil
}
