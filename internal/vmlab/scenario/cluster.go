package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// SharedDiskOptions is the lab SharedDirectIO needs: two guests, one shared disk.
var SharedDiskOptions = vmlab.Options{Nodes: 2, Disks: 1}

// SharedDirectIO checks the private network (each guest pings the other) and that each guest
// reads, with O_DIRECT, what the other wrote to the shared disk.
func SharedDirectIO(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		peer := 3 - n
		if _, err := step(ctx, l, n, quick, fmt.Sprintf("ping node%d on the private network", peer),
			fmt.Sprintf("for i in $(seq 1 40); do ping -c1 -W1 192.168.100.%d >/dev/null && exit 0; sleep 0.5; done; exit 1", peer)); err != nil {
			return err
		}
	}
	stamp := fmt.Sprintf("node1-%d", time.Now().UnixNano())
	if err := odWrite(ctx, l, 1, "/dev/vda", 0, stamp); err != nil {
		return err
	}
	if err := odRead(ctx, l, 2, "/dev/vda", 0, stamp); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/vda", 4096, "node2-reply-to-"+stamp); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/vda", 4096, "node2-reply-to-"+stamp); err != nil {
		return err
	}
	// Overwrite in place: the reader must see the new bytes, not a cached copy.
	if err := odWrite(ctx, l, 1, "/dev/vda", 0, "overwritten-"+stamp); err != nil {
		return err
	}
	return odRead(ctx, l, 2, "/dev/vda", 0, "overwritten-"+stamp)
}

// ClusteredRAID1Options is the lab ClusteredRAID1 needs: two guests, two shared disks.
var ClusteredRAID1Options = vmlab.Options{Nodes: 2, Disks: 2}

// ClusteredRAID1 runs md-cluster RAID1 on two guests with the lab's shell stand-in for
// dlm_controld: create on node1, assemble on node2, both write, node2 crashes (sysrq c, bitmap
// left dirty), node1's kernel recovers slot 2 and reads node2's last write.
func ClusteredRAID1(ctx context.Context, l *vmlab.Lab) error {
	const md = "md0"
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "DLM configfs set-up (shell stand-in for dlm_controld)",
			"/lab/dlm-standin.sh setup"); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 (--bitmap=clustered --nodes=2)",
		"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, 1, md, "bitmap/metadata"); err != nil {
		return err
	} else if err := expect("bitmap/metadata on node1", got, "clustered"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, md); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2",
		"mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		out, err := step(ctx, l, n, quick, "kernel: joined the md-cluster", "dmesg | grep 'md-cluster: Joined cluster'")
		if err != nil {
			return err
		}
		if !strings.Contains(out, fmt.Sprintf("slot %d", n)) {
			return fmt.Errorf("node%d joined with an unexpected slot: %s", n, out)
		}
	}
	if err := odWrite(ctx, l, 1, "/dev/md0", 0, "from-node1"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 2, "/dev/md0", 0, "from-node1"); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 4096, "from-node2"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 4096, "from-node2"); err != nil {
		return err
	}
	// node2 dirties its own bitmap slot, then dies without flushing it.
	if _, err := step(ctx, l, 2, slow, "node2 writes 4 MiB at 128 MiB (O_DIRECT)",
		"dd if=/dev/urandom of=/dev/md0 bs=64k count=64 seek=2048 oflag=direct 2>&1"); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 8192, "node2-last-write"); err != nil {
		return err
	}
	crashCtx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	if err := l.Node(2).Crash(crashCtx); err != nil {
		return err
	}
	l.Logf("node2: crashed (sysrq c)")
	dirty, err := dirtyBits(ctx, l, 1, "/dev/vda")
	if err != nil {
		return err
	}
	if len(dirty) < 2 || dirty[1] == 0 {
		return fmt.Errorf("slot 2 should hold node2's dirty bits after its crash, mdadm -X says %v", dirty)
	}
	l.Logf("node1: bitmap slots dirty before recovery: %v", dirty)
	lsName, err := step(ctx, l, 1, quick, "md lockspace name", "ls /sys/kernel/dlm/ | grep -E '^[0-9a-f]{8}-'")
	if err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "stand-in: node 2 is dead (rmdir comms/2, stop, remove, start)",
		"/lab/dlm-standin.sh dead "+lsName+" 2"); err != nil {
		return err
	}
	kmsg, err := step(ctx, l, 1, slow, "kernel: md-cluster recovers slot 2",
		"for i in $(seq 1 240); do dmesg | grep -E 'md-cluster: .* Node 2/2 down. My slot: 1. Initiating recovery' && exit 0; sleep 0.5; done; exit 1")
	if err != nil {
		return err
	}
	l.Logf("node1 kernel: %s", kmsg)
	if _, err := waitSync(ctx, l, 1, md); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 8192, "node2-last-write"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 4096, "from-node2"); err != nil {
		return err
	}
	if dirty, err = dirtyBits(ctx, l, 1, "/dev/vda"); err != nil {
		return err
	}
	l.Logf("node1: bitmap slots dirty after recovery: %v", dirty)
	if dirty[1] != 0 {
		return fmt.Errorf("slot 2 still has %d dirty chunks after recovery", dirty[1])
	}
	return nil
}
