package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// NewDiskConfirm runs md-cluster RAID1 on two guests with agents in clustered mode that also
// run the kernel DLM (dlm_control mdclusterd): a disk added on node1 is confirmed on node2 by
// node2's agent (ADD_NEW_DISK with MD_DISK_CANDIDATE for the local device carrying that device
// UUID), so both kernels take it.
func NewDiskConfirm(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const uuid = "4e657744:69736b43:6f6e6669:726d0001" // given to mdadm: the agents know it first
	arrays := fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	for n := 1; n <= 2; n++ {
		cfg := vmlab.AgentConfig(n, etcdPort, "10s", "2s", arrays) + "dlm_control: {mode: mdclusterd}\n"
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 on vda vdb",
		shimEnv+`mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 --name=shared --uuid=`+uuid+` /dev/vda /dev/vdb 2>&1`); err != nil {
		return err
	}
	if err := readWrite(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	// Arrays the agent does not assemble start as md starts them (it leaves md_mod's start_ro
	// alone): read-write, as a node must be to confirm a new disk.
	if _, err := step(ctx, l, 2, quick, "md0 runs read-write on node2",
		`[ "$(cat /sys/block/md0/md/array_state)" != read-auto ] || { cat /sys/block/md0/md/array_state; exit 1; }`); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "node1: mdadm --add vdc (md-cluster asks every node to confirm)",
		shimEnv+"mdadm --manage /dev/md0 --add /dev/vdc 2>&1"); err != nil {
		return err
	}
	// node2's agent confirmed it: the event log says so (device and slot as md asked).
	var confirmed api.Event
	for i := 0; ; i++ {
		evs, err := mdEvents(ctx, l, 1)
		if err != nil {
			return err
		}
		var ok bool
		if confirmed, ok = findEvent(evs, api.EventNewDiskConfirm, "node2"); ok {
			break
		}
		if i == 30 {
			return fmt.Errorf("no new-disk confirmation by node2 in the event log")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if confirmed.Fields["device"] != "vdc" {
		return fmt.Errorf("node2 confirmed %q, want vdc: %+v", confirmed.Fields["device"], confirmed)
	}
	l.Logf("node2 agent: %s %v", confirmed.Type, confirmed.Fields)
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "vdc is a member of md0",
			"for i in $(seq 1 40); do [ -d /sys/block/md0/md/dev-vdc ] && exit 0; sleep 0.25; done; ls /sys/block/md0/md; exit 1"); err != nil {
			return err
		}
	}
	return nil
}
