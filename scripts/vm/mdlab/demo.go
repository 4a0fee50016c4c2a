package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/internal/vmlab/scenario"
)

// demo boots the two-guest cluster and narrates, one timestamped line per step, the clustered
// RAID1 scenario (md-cluster with mdclusterd driving the kernel DLM), then the exclusive RAID5
// failover.
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
	l.Logf("part 1 complete: node2's last write survived its crash; node1 recovered its bitmap slot")
	if keep {
		l.Logf("run directory kept: %s", l.Dir)
	}
	l.Close()
	return demoFailover(ctx, keep)
}

// demoFailover narrates part 2: an exclusive RAID5 under mdclusterd's activation lease fails
// over when its holder crashes.
func demoFailover(ctx context.Context, keep bool) error {
	fmt.Println("\nmdcluster demo, part 2: an exclusive RAID5; mdclusterd lets only the lease holder run it, and fails it over")
	port, stop, err := scenario.HostEtcd()
	if err != nil {
		return err
	}
	defer stop()
	o := scenario.AgentOptions
	o.Log = os.Stdout
	l, err := vmlab.Start(ctx, "demo-failover", o)
	if err != nil {
		return err
	}
	defer l.Close()
	ttl := 8 * time.Second
	took, err := scenario.ExclusiveFailover(ctx, l, port, ttl)
	if err != nil {
		for _, vm := range l.VMs {
			fmt.Fprintf(os.Stderr, "--- node%d console (tail)\n%s\n", vm.Node, vm.ConsoleTail(30))
		}
		return err
	}
	l.Logf("demo complete: node2 assembled the RAID5 %.1fs after node1's crash (lease TTL %s) and read node1's data", took.Seconds(), ttl)
	if keep {
		l.Logf("run directory kept: %s", l.Dir)
	}
	return nil
}
