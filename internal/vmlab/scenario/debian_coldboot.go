package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// DebianColdBoot is coexistence scenario (a) on three Debian guests: an exclusive RAID5 and a
// clustered RAID1 on the shared disks, every node configured for both, and a power cut of
// every node at once, then a cold boot of all three together. udev's incremental assembly
// (mdadm's 64-md-raid-assembly.rules) sees every member at boot on every node; the package's
// 63-mdcluster.rules must keep it off the RAID5's members, so the only kernel that ever starts
// the RAID5 is the lease holder's (md's console line, host-stamped, over the whole boot; and
// the arrays sampled from the host afterwards). mdadm skips the clustered RAID1 by itself. It
// returns the two arrays' UUIDs for the next scenario on the same lab.
func DebianColdBoot(ctx context.Context, l *vmlab.Lab, etcdPort int) (uuid5, uuid1 string, err error) {
	if err = startDebianAgents(ctx, l, etcdPort, ""); err != nil {
		return "", "", err
	}
	if uuid1, err = createDebianRAID1(ctx, l); err != nil {
		return "", "", err
	}
	if uuid5, err = createDebianRAID5(ctx, l, false); err != nil {
		return "", "", err
	}
	if err = startDebianAgents(ctx, l, etcdPort, debianArrays(uuid5, uuid1)); err != nil {
		return "", "", err
	}
	if _, _, err = waitAssembledAnywhere(ctx, l, uuid5, 90*time.Second); err != nil {
		return "", "", err
	}
	// The power goes on every node at once (sysrq c: nothing flushed), then comes back.
	var wg sync.WaitGroup
	errs := make([]error, len(l.VMs))
	for n := 1; n <= len(l.VMs); n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, quick)
			defer cancel()
			errs[n-1] = l.Node(n).Crash(cctx)
		}(n)
	}
	wg.Wait()
	l.Logf("host: power cut on every node")
	t0 := time.Now()
	for n := 1; n <= len(l.VMs); n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			if errs[n-1] == nil {
				_, errs[n-1] = l.Restart(ctx, n)
			}
		}(n)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return "", "", e
		}
	}
	l.Logf("host: every node booted again %.1fs after power-on", time.Since(t0).Seconds())
	holder, _, err := waitAssembledAnywhere(ctx, l, uuid5, 120*time.Second)
	if err != nil {
		return "", "", err
	}
	return uuid5, uuid1, checkOnlyHolder(ctx, l, uuid5, uuid1, holder)
}

// waitAssembledAnywhere waits until some node runs the array and returns it and its md name.
func waitAssembledAnywhere(ctx context.Context, l *vmlab.Lab, uuid string, within time.Duration) (int, string, error) {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		for n := 1; n <= len(l.VMs); n++ {
			if l.Node(n).Exited() {
				continue
			}
			if name, _, err := waitAssembled(ctx, l, n, uuid, time.Second); err == nil {
				l.Logf("node%d runs the array as %s", n, name)
				return n, name, nil
			}
		}
	}
	return 0, "", fmt.Errorf("no node assembled array %s within %s", uuid, within)
}

// checkOnlyHolder samples every node for a while: the RAID5 runs on the holder alone, which
// every agent names; no kernel but the holder's ever started it (console, whole boot); no
// agent ever found an unleased copy to stop; udev marked the RAID5's members as the agent's
// and left the clustered RAID1 alone.
func checkOnlyHolder(ctx context.Context, l *vmlab.Lab, uuid5, uuid1 string, holder int) error {
	holderName := fmt.Sprintf("node%d", holder)
	for i := 0; i < 10; i++ {
		on, err := runningOn(ctx, l, uuid5)
		if err != nil {
			return err
		}
		if len(on) != 1 || on[0] != holder {
			return fmt.Errorf("sample %d: the RAID5 runs on %v, want node%d alone", i, on, holder)
		}
		time.Sleep(time.Second)
	}
	for n := 1; n <= len(l.VMs); n++ {
		starts := raid5Started(l, n, time.Time{})
		want := map[bool]int{true: 1, false: 0}[n == holder]
		if len(starts) != want {
			return fmt.Errorf("node%d's kernel started a RAID5 %d time(s) this boot, want %d (holder %s)", n, len(starts), want, holderName)
		}
		st, err := agentStatus(ctx, l, n)
		if err != nil {
			return err
		}
		for _, a := range st.Arrays {
			if a.UUID == uuid5 && a.ActiveOn != holderName {
				return fmt.Errorf("node%d's agent says the RAID5 is active on %q, want %s", n, a.ActiveOn, holderName)
			}
		}
		if st.Actions["stop_unleased"] != 0 {
			return fmt.Errorf("node%d's agent stopped %d unleased copies: something assembled the RAID5 without the lease", n, st.Actions["stop_unleased"])
		}
		out, err := step(ctx, l, n, quick, "udev's view of a RAID5 and a RAID1 member", fmt.Sprintf(
			`udevadm info --query=property --name=%s | grep -E '^(MDCLUSTER_MODE|SYSTEMD_READY)=' | sort | tr '\n' ' '; echo
udevadm info --query=property --name=%s | grep -E '^(MDCLUSTER_MODE|SYSTEMD_READY)=' | sort | tr '\n' ' '; echo
cat /proc/mdstat | grep -c '^md' || true`, byID(0), byID(3)))
		if err != nil {
			return err
		}
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || strings.TrimSpace(lines[0]) != "MDCLUSTER_MODE=exclusive SYSTEMD_READY=0" ||
			strings.TrimSpace(lines[1]) != "MDCLUSTER_MODE=clustered" {
			return fmt.Errorf("node%d: udev properties of a RAID5 and a RAID1 member: %q", n, out)
		}
		wantMD := map[bool]string{true: "1", false: "0"}[n == holder]
		if strings.TrimSpace(lines[2]) != wantMD {
			return fmt.Errorf("node%d runs %s md arrays after the boot, want %s (the clustered RAID1 waits for its assembly)", n, lines[2], wantMD)
		}
	}
	l.Logf("host: after the cold boot only %s ever started the RAID5 (its agent holds the lease); udev marked its members on every node", holderName)
	return nil
}

// DebianNewDisk is coexistence scenario (b), on the lab DebianColdBoot left: the clustered RAID1
// assembled on every node, node1 adds disk 5, and every other node answers md-cluster's
// new-disk request exactly once: its agent confirms it, the package's rule kept mdadm's
// 69-md-clustered-confirm-device.rules from answering too, and no kernel logs "Spurious cluster
// confirmation".
func DebianNewDisk(ctx context.Context, l *vmlab.Lab, uuid1 string) error {
	for n := 1; n <= len(l.VMs); n++ {
		if err := waitControlPlane(ctx, l, n); err != nil {
			return err
		}
		if _, err := step(ctx, l, n, slow, "mdadm --assemble the clustered RAID1", fmt.Sprintf(
			`mdadm --assemble /dev/md/shared %s 2>&1 && mdadm --readwrite /dev/md/shared 2>/dev/null; cat /sys/block/$(basename $(readlink -f /dev/md/shared))/md/array_state`, byIDs(3, 4))); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "node1: mdadm --add disk 5 (md-cluster asks every node to confirm)",
		shimEnv+"MDCLUSTER_CLUSTER_NAME=mdlab mdadm --manage /dev/md/shared --add "+byID(5)+" 2>&1"); err != nil {
		return err
	}
	for n := 1; n <= len(l.VMs); n++ {
		if _, err := step(ctx, l, n, quick, "disk 5 is a member", fmt.Sprintf(
			`d=$(basename $(readlink -f %s)); md=$(basename $(readlink -f /dev/md/shared))
for i in $(seq 1 80); do [ -d /sys/block/$md/md/dev-$d ] && exit 0; sleep 0.25; done; ls /sys/block/$md/md; exit 1`, byID(5))); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second) // a late second answer would show now
	for n := 1; n <= len(l.VMs); n++ {
		confirmed, err := journalCount(ctx, l, n, "mdclusterd", "confirmed new disk")
		if err != nil {
			return err
		}
		out, err := step(ctx, l, n, quick, "spurious confirmations in the kernel log",
			`echo "spurious=$(dmesg | grep -c 'Spurious cluster confirmation')"`)
		if err != nil {
			return err
		}
		want := 1
		if n == 1 {
			want = 0 // the node that added the disk gets no request
		}
		// The agent answered once, and nothing else did: a second answer (mdadm's rule) would
		// be refused by the kernel, which says so.
		if confirmed != want || out != "spurious=0" {
			return fmt.Errorf("node%d: the agent confirmed %d time(s) (want %d); %s", n, confirmed, want, out)
		}
		l.Logf("node%d: %d confirmation by the agent, %s", n, confirmed, out)
	}
	return nil
}
