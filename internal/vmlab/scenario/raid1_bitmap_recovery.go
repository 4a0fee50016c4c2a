package scenario

import (
	"context"
	"fmt"
	"strings"

	"mdcluster.dev/internal/vmlab"
)

// RAID1BitmapRecoveryOptions is the lab RAID1BitmapRecovery needs: one guest, two disks, and user
// networking for HostLoopback.
var RAID1BitmapRecoveryOptions = vmlab.Options{Nodes: 1, Disks: 2, UserNet: true}

// RAID1BitmapRecovery creates a RAID1 with an internal write-intent bitmap, fails and removes a member,
// writes while degraded, re-adds the member and checks that md recovers it from the bitmap (a
// bitmap-based "recover", not a full resync), that the bitmap is clean afterwards, and that the
// re-added member alone returns what was written while it was out.
func RAID1BitmapRecovery(ctx context.Context, l *vmlab.Lab) error {
	if err := createBitmapRAID1(ctx, l); err != nil {
		return err
	}
	if err := degradedWrite(ctx, l); err != nil {
		return err
	}
	if err := reAddRecovers(ctx, l); err != nil {
		return err
	}
	return readsFromReAdded(ctx, l)
}

// HostLoopback checks QEMU user networking: the guest reaches a service listening on the
// host's 127.0.0.1:port through 10.0.2.2 and reads token from it.
func HostLoopback(ctx context.Context, l *vmlab.Lab, node, port int, token string) error {
	got, err := step(ctx, l, node, quick, fmt.Sprintf("connect to the host's 127.0.0.1:%d via 10.0.2.2", port),
		fmt.Sprintf("nc -w 5 10.0.2.2 %d </dev/null", port))
	if err != nil {
		return err
	}
	return expect("token from the host service", got, token)
}

// createBitmapRAID1 creates md0, a RAID1 with an internal bitmap on vda and vdb, and waits for
// its initial resync.
func createBitmapRAID1(ctx context.Context, l *vmlab.Lab) error {
	const md = "md0"
	if _, err := step(ctx, l, 1, slow, "mdadm --create RAID1 with internal bitmap on vda vdb",
		"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, 1, md, "bitmap/metadata"); err != nil {
		return err
	} else if err := expect("bitmap/metadata", got, "internal"); err != nil {
		return err
	}
	if last, err := waitSync(ctx, l, 1, md); err != nil {
		return err
	} else if err := expect("initial sync action", last, "resync"); err != nil {
		return err
	}
	return nil
}

// degradedWrite writes, fails vdb, writes again while it is out, removes it, and requires vda's
// bitmap to have dirty chunks.
func degradedWrite(ctx context.Context, l *vmlab.Lab) error {
	const md = "md0"
	S := "/sys/block/md0/md"
	if err := odWrite(ctx, l, 1, "/dev/md0", 0, "before-failure"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "fail vdb through sysfs (dev-vdb/state=faulty)",
		"echo faulty > "+S+"/dev-vdb/state && cat "+S+"/dev-vdb/state"); err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, 1, md, "degraded"); err != nil {
		return err
	} else if err := expect("degraded after fail", got, "1"); err != nil {
		return err
	}
	// Written while vdb is out: only the bitmap remembers that vdb misses this region.
	if err := odWrite(ctx, l, 1, "/dev/md0", 8<<20, "written-while-degraded"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "remove vdb (dev-vdb/state=remove)",
		"echo remove > "+S+"/dev-vdb/state && ! test -e "+S+"/dev-vdb"); err != nil {
		return err
	}
	dirty, err := dirtyBits(ctx, l, 1, "/dev/vda")
	if err != nil {
		return err
	}
	if dirty[0] == 0 {
		return fmt.Errorf("bitmap of vda has no dirty chunk after a degraded write")
	}
	l.Logf("node1: vda bitmap has %d dirty chunk(s) while vdb is out", dirty[0])
	return nil
}

// reAddRecovers re-adds vdb and requires md to recover it from the bitmap (a recovery, in the
// kernel log), its bitmap to clear and vdb to be in sync.
func reAddRecovers(ctx context.Context, l *vmlab.Lab) error {
	const md = "md0"
	if _, err := step(ctx, l, 1, quick, "mdadm --re-add vdb", "mdadm /dev/md0 --re-add /dev/vdb 2>&1"); err != nil {
		return err
	}
	last, err := waitSync(ctx, l, 1, md)
	if err != nil {
		return err
	}
	if err := expect("last_sync_action after re-add", last, "recovery"); err != nil {
		return err
	}
	// mdadm --re-add succeeds only when the member's bitmap events let md copy just the chunks
	// the bitmap marks dirty; without a usable bitmap it refuses, and a plain --add would rebuild.
	dm, err := step(ctx, l, 1, quick, "kernel log of the re-add", "dmesg | grep -E 'md0|md:' | tail -20")
	if err != nil {
		return err
	}
	if !strings.Contains(dm, "recovery of RAID array md0") {
		return fmt.Errorf("no recovery in the kernel log:\n%s", dm)
	}
	// md clears bits lazily (a few bitmap daemon periods after the writes), so wait for it.
	if err := waitClean(ctx, l, 1, "/dev/vdb", 0); err != nil {
		return err
	}
	if state, err := sysfs(ctx, l, 1, md, "dev-vdb/state"); err != nil {
		return err
	} else if err := expect("dev-vdb/state", state, "in_sync"); err != nil {
		return err
	}
	return nil
}

// readsFromReAdded fails vda, so md0 reads from the re-added vdb alone, reads both writes back,
// and stops md0.
func readsFromReAdded(ctx context.Context, l *vmlab.Lab) error {
	S := "/sys/block/md0/md"
	// Fail vda: reads now come from vdb alone, so they prove the recovery copied the data.
	if _, err := step(ctx, l, 1, quick, "fail vda so md0 reads from the re-added vdb only",
		"echo faulty > "+S+"/dev-vda/state"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 8<<20, "written-while-degraded"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 0, "before-failure"); err != nil {
		return err
	}
	_, err := step(ctx, l, 1, quick, "stop md0", "mdadm --stop /dev/md0 2>&1 && ! test -e /sys/block/md0/md")
	return err
}
