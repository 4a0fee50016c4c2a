package scenario

import (
	"context"
	"fmt"
	"strings"

	"mdcluster.dev/internal/vmlab"
)

// ScrubOptions is the lab of the scrub scenarios: two guests (one suffices for ScrubNotDropped)
// and two small shared disks, so that a check takes a minute at the speed limit.
var ScrubOptions = vmlab.Options{Nodes: 2, Disks: 2, DiskSize: 128 << 20, UserNet: true}

// scrubArrays is the configuration of an exclusive RAID1 "data" with a scrub section.
func scrubArrays(uuid string, speed int) string {
	return fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb]}\n"+
		"scrub: {checkpoint: 2s, speed_limit: %d}\n", uuid, speed)
}

// createRAID1Data creates the RAID1 "data" on vda vdb on node1, waits for its initial sync,
// optionally writes a 4 KiB block of garbage into vdb's copy of the data (a mismatch for a
// check to find), stops it and returns its UUID.
func createRAID1Data(ctx context.Context, l *vmlab.Lab, corrupt bool) (string, error) {
	script := `mdadm --create /dev/md/data --run --level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 --name=data /dev/vda /dev/vdb >/dev/null 2>&1 || exit 1
mdadm --wait /dev/md/data; mdadm --detail --export /dev/md/data | sed -n 's/^MD_UUID=//p'
off=$(mdadm -E /dev/vdb | sed -n 's/.*Data Offset : \([0-9]*\) sectors.*/\1/p')
mdadm --stop /dev/md/data >/dev/null 2>&1`
	if corrupt {
		script += "\nmdlab odwrite /dev/vdb $((off*512 + 1048576)) not-what-vda-holds"
	}
	out, err := step(ctx, l, 1, slow, "mdadm --create RAID1 data on vda vdb, then stop it", script)
	return strings.TrimSpace(vmlab.Lines(out)[0]), err
}

// syncSettled waits until node's agent runs the array idle and holds no resync lease.
func syncSettled(ctx context.Context, l *vmlab.Lab, node int, md string) error {
	if _, err := waitSync(ctx, l, node, md); err != nil {
		return err
	}
	return waitNoSyncLease(ctx, l, node)
}
