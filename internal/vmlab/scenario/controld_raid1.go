package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ControldRAID1 is scenario (a) of the DLM control plane: mdclusterd on two guests runs the
// kernel DLM (etcd on the host at etcdPort agrees the member sets). node1 creates a clustered
// RAID1 through the libcmap shim, node2 assembles it, both write, node2 crashes; node1's agent
// sees node2's lease expire, waits for its watchdog, removes comms/2 and node 2 from the
// lockspace, and md-cluster recovers slot 2: node2's last write reads back and a check finds no
// mismatch. node2 then reboots, rejoins and gets slot 2 again.
func ControldRAID1(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration) (CrashRecovery, error) {
	var fig CrashRecovery
	for n := 1; n <= 2; n++ {
		if err := StartControlPlane(ctx, l, n, etcdPort, ttl, margin); err != nil {
			return fig, err
		}
	}
	if err := createClusteredRAID1(ctx, l, shimEnv); err != nil {
		return fig, err
	}
	crashed, err := writeBothThenCrash2(ctx, l)
	if err != nil {
		return fig, err
	}
	dirty, err := dirtyBits(ctx, l, 1, "/dev/vda")
	if err != nil {
		return fig, err
	}
	if len(dirty) < 2 || dirty[1] == 0 {
		return fig, fmt.Errorf("slot 2 should hold node2's dirty bits after its crash, mdadm -X says %v", dirty)
	}
	l.Logf("node1: bitmap slots dirty before recovery: %v", dirty)
	if fig, err = waitRecovery(ctx, l, 1, 2, 2, crashed, ttl, margin); err != nil {
		return fig, err
	}
	if err := checkRecovered(ctx, l); err != nil {
		return fig, err
	}
	if err := rejoin(ctx, l, 2, etcdPort, ttl, margin); err != nil {
		return fig, err
	}
	fig.Rejoined, fig.SlotReuse = true, 2
	return fig, nil
}

// rejoin reboots a crashed node, starts its agent and assembles md0 there: the node must get
// its old slot back and see the data.
func rejoin(ctx context.Context, l *vmlab.Lab, node, etcdPort int, ttl, margin time.Duration) error {
	if _, err := l.Restart(ctx, node); err != nil {
		return err
	}
	if err := StartControlPlane(ctx, l, node, etcdPort, ttl, margin); err != nil {
		return err
	}
	if _, err := step(ctx, l, node, slow, "mdadm --assemble after the reboot", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if err := readWrite(ctx, l, node, "md0"); err != nil {
		return err
	}
	if err := joinedSlot(ctx, l, node, node); err != nil {
		return err
	}
	if err := odRead(ctx, l, node, "/dev/md0", 8192, "node2-last-write"); err != nil {
		return err
	}
	if err := odWrite(ctx, l, node, "/dev/md0", 12288, "after-reboot"); err != nil {
		return err
	}
	return odRead(ctx, l, 1, "/dev/md0", 12288, "after-reboot")
}
