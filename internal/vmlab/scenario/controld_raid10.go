package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ControldRAID10Options is the lab for scenario (b): three guests, three shared disks.
var ControldRAID10Options = vmlab.Options{Nodes: 3, Disks: 3, UserNet: true}

// ControldRAID10 is scenario (b): a clustered RAID10 on three guests, node3 crashes after
// dirtying its slot; node1 and node2 keep serving, their control planes fence and remove node3,
// and md-cluster recovers slot 3 on a survivor.
func ControldRAID10(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration) (CrashRecovery, error) {
	var fig CrashRecovery
	if err := raid10OnThree(ctx, l, etcdPort, ttl, margin); err != nil {
		return fig, err
	}
	crashed, err := crashNode3(ctx, l)
	if err != nil {
		return fig, err
	}
	fig, err = waitRecovery(ctx, l, 1, 3, 3, crashed, ttl, margin)
	if err != nil {
		return fig, err
	}
	return fig, survivorsReadAll(ctx, l)
}

// raid10OnThree starts the control plane on three nodes, creates the clustered RAID10 on node1,
// assembles it on the others, and has each node join its slot and write its tag.
func raid10OnThree(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration) error {
	for n := 1; n <= 3; n++ {
		if err := StartControlPlane(ctx, l, n, etcdPort, ttl, margin); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID10 (--nodes=3)",
		shimEnv+"mdadm --create /dev/md0 --run --level=10 --raid-devices=3 --bitmap=clustered --nodes=3 --metadata=1.2 /dev/vda /dev/vdb /dev/vdc 2>&1"); err != nil {
		return err
	}
	if err := readWrite(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	for n := 2; n <= 3; n++ {
		if _, err := step(ctx, l, n, slow, "mdadm --assemble", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb /dev/vdc 2>&1"); err != nil {
			return err
		}
		if err := readWrite(ctx, l, n, "md0"); err != nil {
			return err
		}
	}
	for n := 1; n <= 3; n++ {
		if err := joinedSlot(ctx, l, n, n); err != nil {
			return err
		}
		if err := odWrite(ctx, l, n, "/dev/md0", int64(n)*4096, fmt.Sprintf("from-node%d", n)); err != nil {
			return err
		}
	}
	return nil
}

// crashNode3 has node3 write, crashes it, has the survivors write while its lease runs out, and
// requires slot 3 of the bitmap to hold node3's dirty bits; it returns when node3 crashed.
func crashNode3(ctx context.Context, l *vmlab.Lab) (time.Time, error) {
	if _, err := step(ctx, l, 3, slow, "node3 writes 4 MiB at 64 MiB (O_DIRECT)",
		"dd if=/dev/urandom of=/dev/md0 bs=64k count=64 seek=1024 oflag=direct 2>&1"); err != nil {
		return time.Time{}, err
	}
	if err := odWrite(ctx, l, 3, "/dev/md0", 65536, "node3-last-write"); err != nil {
		return time.Time{}, err
	}
	crashCtx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(3).Crash(crashCtx); err != nil {
		return time.Time{}, err
	}
	l.Logf("node3: crashed (sysrq c)")
	// The survivors keep serving while node3's lease runs out.
	for n := 1; n <= 2; n++ {
		if err := odWrite(ctx, l, n, "/dev/md0", int64(16+n)*4096, fmt.Sprintf("node%d-during-failure", n)); err != nil {
			return time.Time{}, err
		}
	}
	dirty, err := dirtyBits(ctx, l, 1, "/dev/vda")
	if err != nil {
		return time.Time{}, err
	}
	if len(dirty) < 3 || dirty[2] == 0 {
		return time.Time{}, fmt.Errorf("slot 3 should hold node3's dirty bits after its crash, mdadm -X says %v", dirty)
	}
	l.Logf("node1: bitmap slots dirty before recovery: %v", dirty)
	return crashed, nil
}

// survivorsReadAll waits for the survivors' syncs, has each read node3's writes and the other
// survivor's, and waits for node3's bitmap slot to clear.
func survivorsReadAll(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		if _, err := waitSync(ctx, l, n, "md0"); err != nil {
			return err
		}
		for _, r := range []struct {
			off  int64
			want string
		}{{65536, "node3-last-write"}, {3 * 4096, "from-node3"}, {int64(16+3-n) * 4096, fmt.Sprintf("node%d-during-failure", 3-n)}} {
			if err := odRead(ctx, l, n, "/dev/md0", r.off, r.want); err != nil {
				return err
			}
		}
	}
	if err := waitClean(ctx, l, 1, "/dev/vda", 2); err != nil {
		return err
	}
	return nil
}
