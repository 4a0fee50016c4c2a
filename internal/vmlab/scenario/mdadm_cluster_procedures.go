package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// MdadmClusterProceduresOptions: two guests (etcd on the host) and four small shared disks, so
// every sync takes seconds.
var MdadmClusterProceduresOptions = vmlab.Options{Nodes: 2, Disks: 4, DiskSize: 48 << 20, UserNet: true}

// The arrays of MdadmClusterProcedures: the agents do not have them in their configuration.
const (
	procRAID1UUID  = "70726f63:72616964:31000000:00000017"
	procRAID10UUID = "70726f63:72616964:31300000:00000017"
)

// procSettle bounds how long md0 may take to settle on both nodes after a procedure step.
const procSettle = time.Minute

// MdadmClusterProcedures is review item 17 on the real kernel: mdadm's own clustered-md
// procedures (as mdadm's clustermd_tests run them) with plain mdadm on two guests whose agents
// run the kernel DLM (dlm_control mdclusterd) and have no array in their configuration
// (`arrays: []`). Each step must end as it would without the agent: on both nodes md0 reaches
// the expected members and spares, in sync, read-write, with no resync or recovery pending or
// announced (resync=PENDING, REMOTE) left over; every new disk is confirmed once by the peer's
// agent; md_mod's start_ro stays as the kernel set it; no kernel log says "Spurious cluster
// confirmation"; and each agent lists the array as a clustered array of this cluster that it
// never holds back.
//
// A RAID1 (no --assume-clean, so node1 resyncs) covers create, switch-resync (node1 stops
// mid-resync, node2 finishes it), resize (--size max, then back), re-add (node2's agent refuses
// it; the member is then wiped and added), manage add (a wiped disk recovers; one more becomes a spare), grow --add (raid-devices 2→3 with --add). A RAID10
// (--assume-clean, with a spare) covers create with a spare, add-spare and switch-recovery
// (node1 fails a member, stops mid-recovery, node2 finishes it).
func MdadmClusterProcedures(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	for n := 1; n <= 2; n++ {
		cfg := ControldConfig(n, etcdPort, 20*time.Second, 8*time.Second)
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return err
		}
		if out, err := step(ctx, l, n, quick, "md_mod start_ro as the kernel set it", "cat /sys/module/md_mod/parameters/start_ro"); err != nil {
			return err
		} else if err := expect(fmt.Sprintf("node%d md_mod start_ro", n), out, "0"); err != nil {
			return err
		}
	}
	p := &procedures{l: l}
	for _, f := range []func(context.Context) error{p.createSwitchResync, p.resize, p.reAdd, p.manageAdd, p.growAdd,
		p.createSpare, p.addSpare, p.switchRecovery} {
		if err := f(ctx); err != nil {
			return fmt.Errorf("%w\n%s\n%s", err, mdclusterDiag(ctx, l, 1), mdclusterDiag(ctx, l, 2))
		}
	}
	for n := 1; n <= 2; n++ {
		if out, err := step(ctx, l, n, quick, "md_mod start_ro still as the kernel set it", "cat /sys/module/md_mod/parameters/start_ro"); err != nil {
			return err
		} else if err := expect(fmt.Sprintf("node%d md_mod start_ro at the end", n), out, "0"); err != nil {
			return err
		}
	}
	return nil
}

// procedures are the steps of MdadmClusterProcedures, in order, on one lab.
type procedures struct {
	l *vmlab.Lab
}

// mdadm runs an mdadm command line (with the libcmap shim) on node as one step.
func (p *procedures) mdadm(ctx context.Context, node int, args string) (string, error) {
	return step(ctx, p.l, node, slow, "mdadm "+args, shimEnv+"mdadm "+args+" 2>&1")
}

// settle waits until md0 is settled as wanted on both nodes, then checks the kernel logs and
// the agents (the array listed, clustered, never held back).
func (p *procedures) settle(ctx context.Context, what string, want mdWant, uuid string) error {
	start := time.Now()
	if _, err := waitSettled(ctx, p.l, []int{1, 2}, want, procSettle); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.l.Logf("%s: md0 settled on both nodes (%s) in %.1fs", what, want, time.Since(start).Seconds())
	return p.agentsAndKernel(ctx, []int{1, 2}, uuid, true)
}

// agentsAndKernel checks that each node's agent lists the array (discovery runs every 2 s, so
// it may take a moment) and holds nothing back (with idle, that no sync of it is published any
// more), and that no kernel log complains.
func (p *procedures) agentsAndKernel(ctx context.Context, nodes []int, uuid string, idle bool) error {
	for _, n := range nodes {
		var err error
		for i := 0; i < 30; i++ {
			if _, err = agentNeverHeldBack(ctx, p.l, n, uuid, idle); err == nil || !strings.Contains(err.Error(), "does not list") {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			return err
		}
		bad, err := kernelComplaints(ctx, p.l, n)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("node%d kernel:\n%s", n, strings.Join(bad, "\n"))
		}
	}
	return nil
}

// waitMdstat waits until node's /proc/mdstat shows one of the words for md0 and returns it.
func (p *procedures) waitMdstat(ctx context.Context, node int, what string, words ...string) (string, error) {
	return step(ctx, p.l, node, quick, what, fmt.Sprintf(`for i in $(seq 1 100); do
  w=$(sed -n '/^md0/,/^$/p' /proc/mdstat | grep -oE '%s' | head -1); [ -n "$w" ] && { echo $w; exit 0; }; sleep 0.1
done; cat /proc/mdstat; exit 1`, strings.Join(words, "|")))
}

// stopBoth stops md0 on node2 then node1 and wipes the members' superblocks.
func (p *procedures) stopBoth(ctx context.Context) error {
	for _, n := range []int{2, 1} {
		if _, err := p.mdadm(ctx, n, "--stop /dev/md0"); err != nil {
			return err
		}
	}
	_, err := p.mdadm(ctx, 1, "--zero-superblock /dev/vda /dev/vdb /dev/vdc /dev/vdd")
	return err
}

// slowSync holds md's syncs on node to about 1 MB/s (so that a node can stop half-way), or
// gives md back its defaults.
func (p *procedures) slowSync(ctx context.Context, node int, slow bool) error {
	lo, hi := 1000, 200000 // md's defaults
	if slow {
		lo, hi = 100, 1000
	}
	_, err := step(ctx, p.l, node, quick, fmt.Sprintf("md sync speed %d-%d KB/s", lo, hi),
		fmt.Sprintf("echo %d > /proc/sys/dev/raid/speed_limit_min; echo %d > /proc/sys/dev/raid/speed_limit_max", lo, hi))
	return err
}

// createSwitchResync: node1 creates a clustered RAID1 without --assume-clean and resyncs it
// (slowly); node2 assembles it and waits (resync PENDING or REMOTE); node1 stops mid-resync and
// node2 takes the resync over and ends it; node1 assembles again: both in sync.
func (p *procedures) createSwitchResync(ctx context.Context) error {
	if err := p.slowSync(ctx, 1, true); err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 1, "--create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 "+
		"--metadata=1.2 --size=20000 --name=proc1 --uuid="+procRAID1UUID+" /dev/vda /dev/vdb"); err != nil {
		return err
	}
	if _, err := p.waitMdstat(ctx, 1, "create: node1 resyncs", "resync"); err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 2, "--assemble /dev/md0 /dev/vda /dev/vdb"); err != nil {
		return err
	}
	w, err := p.waitMdstat(ctx, 2, "create: node2 waits for node1's resync", "PENDING|REMOTE")
	if err != nil {
		return err
	}
	if err := p.agentsAndKernel(ctx, []int{1, 2}, procRAID1UUID, false); err != nil {
		return err
	}
	done, err := sysfs(ctx, p.l, 1, "md0", "sync_completed")
	if err != nil {
		return err
	}
	if done == "none" {
		return fmt.Errorf("switch-resync: node1's resync ended before node1 stopped (speed limit too high for this host)")
	}
	p.l.Logf("switch-resync: node2 shows resync=%s; node1 stops at %s", w, done)
	before, err := readSyncLog(ctx, p.l, 2)
	if err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 1, "--stop /dev/md0"); err != nil {
		return err
	}
	// node2's resync may run and end between two looks at mdstat: its kernel lines say it ran.
	ran, err := waitSyncDone(ctx, p.l, 2, before, procSettle)
	if err != nil {
		return fmt.Errorf("switch-resync: node2 did not take the resync over: %w", err)
	}
	p.l.Logf("switch-resync: node2 ran the rest of the resync (syncs started/done/interrupted %s)", ran)
	if _, err := waitSettled(ctx, p.l, []int{2}, mdWant{raidDisks: 2}, procSettle); err != nil {
		return fmt.Errorf("switch-resync: %w", err)
	}
	if err := p.slowSync(ctx, 1, false); err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 1, "--assemble /dev/md0 /dev/vda /dev/vdb"); err != nil {
		return err
	}
	return p.settle(ctx, "create + switch-resync", mdWant{raidDisks: 2}, procRAID1UUID)
}

// resize: --grow --size max (node1 resyncs the new part), then back to 20000 KiB; both nodes
// see each new size.
func (p *procedures) resize(ctx context.Context) error {
	for _, size := range []string{"max", "20000"} {
		if _, err := p.mdadm(ctx, 1, "--grow /dev/md0 --size="+size); err != nil {
			return err
		}
		if err := p.settle(ctx, "resize --size="+size, mdWant{raidDisks: 2}, procRAID1UUID); err != nil {
			return err
		}
		var sizes []string
		for n := 1; n <= 2; n++ {
			s, err := sysfs(ctx, p.l, n, "md0", "component_size")
			if err != nil {
				return err
			}
			sizes = append(sizes, s)
		}
		if sizes[0] != sizes[1] || (size == "20000" && sizes[0] != "20000") || (size == "max" && sizes[0] == "20000") {
			return fmt.Errorf("resize --size=%s: component_size node1 %s, node2 %s", size, sizes[0], sizes[1])
		}
		p.l.Logf("resize --size=%s: component_size %s KiB on both nodes", size, sizes[0])
	}
	return nil
}

// failRemove fails and removes disk on node1 in one mdadm call, as mdadm's tests do, and
// waits until node2 no longer has it bound; a disk node2 keeps (md-cluster's REMOVE race) is
// logged and removed there.
func (p *procedures) failRemove(ctx context.Context, disk string) error {
	if _, err := p.mdadm(ctx, 1, "--manage /dev/md0 --fail /dev/"+disk+" --remove /dev/"+disk); err != nil {
		return err
	}
	lingered, err := removedEverywhere(ctx, p.l, []int{2}, disk)
	if err != nil {
		return err
	}
	for _, s := range lingered {
		p.l.Logf("FIGURE REMOVE race after --fail --remove on node1: %s", s)
	}
	return nil
}

// reAdd: fail and remove vda, then try to re-add it. node2's agent must refuse it (a NACK: a
// re-add on a clustered array rebuilds the member from node1's bitmap only, and node2's writes
// made meanwhile would be lost), mdadm must fail and md0 stay degraded; then vda is wiped and
// added (confirmed: a full recovery).
func (p *procedures) reAdd(ctx context.Context) error {
	if err := p.failRemove(ctx, "vda"); err != nil {
		return err
	}
	if err := p.answered(ctx, "re-add", false, func() error {
		out, err := p.mdadm(ctx, 1, "--manage /dev/md0 --re-add /dev/vda")
		if err == nil {
			return fmt.Errorf("mdadm --re-add of vda on the clustered md0 succeeded (%q): node2's agent must refuse it", out)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := step(ctx, p.l, 1, quick, "vda is not in md0", "[ ! -e /sys/block/md0/md/dev-vda ] && cat /sys/block/md0/md/degraded | grep -qx 1"); err != nil {
		return err
	}
	if err := p.confirmed(ctx, "add after the refused re-add", func() error {
		if _, err := step(ctx, p.l, 1, quick, "wipe vda", "mdadm --zero-superblock /dev/vda 2>&1"); err != nil {
			return err
		}
		_, err := p.mdadm(ctx, 1, "--manage /dev/md0 --add /dev/vda")
		return err
	}); err != nil {
		return err
	}
	return p.settle(ctx, "re-add refused, then add", mdWant{raidDisks: 2}, procRAID1UUID)
}

// manageAdd: fail and remove vdb, add the blank vdc (it recovers), then add vdb wiped to the
// whole array (it becomes a spare).
func (p *procedures) manageAdd(ctx context.Context) error {
	if err := p.failRemove(ctx, "vdb"); err != nil {
		return err
	}
	if err := p.confirmed(ctx, "manage add", func() error {
		_, err := p.mdadm(ctx, 1, "--manage /dev/md0 --add /dev/vdc")
		return err
	}); err != nil {
		return err
	}
	if err := p.settle(ctx, "manage add (recovery)", mdWant{raidDisks: 2}, procRAID1UUID); err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 1, "--zero-superblock /dev/vdb"); err != nil {
		return err
	}
	if err := p.confirmed(ctx, "manage add (spare)", func() error {
		_, err := p.mdadm(ctx, 1, "--manage /dev/md0 --add /dev/vdb")
		return err
	}); err != nil {
		return err
	}
	return p.settle(ctx, "manage add (spare)", mdWant{raidDisks: 2, spares: 1}, procRAID1UUID)
}

// growAdd: --grow --raid-devices=3 --add vdd: three members in sync, one spare left.
func (p *procedures) growAdd(ctx context.Context) error {
	if err := p.confirmed(ctx, "grow --add", func() error {
		_, err := p.mdadm(ctx, 1, "--grow /dev/md0 --raid-devices=3 --add /dev/vdd")
		return err
	}); err != nil {
		return err
	}
	if err := p.settle(ctx, "grow --raid-devices=3 --add", mdWant{raidDisks: 3, spares: 1}, procRAID1UUID); err != nil {
		return err
	}
	return p.stopBoth(ctx)
}

// createSpare: a clustered RAID10 created with --assume-clean and a spare, assembled on node2.
func (p *procedures) createSpare(ctx context.Context) error {
	if _, err := p.mdadm(ctx, 1, "--create /dev/md0 --run --level=10 --layout=n2 --raid-devices=2 --spare-devices=1 "+
		"--assume-clean --bitmap=clustered --nodes=2 --metadata=1.2 --name=proc10 --uuid="+procRAID10UUID+
		" /dev/vda /dev/vdb /dev/vdc"); err != nil {
		return err
	}
	if _, err := p.mdadm(ctx, 2, "--assemble /dev/md0 /dev/vda /dev/vdb /dev/vdc"); err != nil {
		return err
	}
	return p.settle(ctx, "create --assume-clean with a spare", mdWant{raidDisks: 2, spares: 1}, procRAID10UUID)
}

// addSpare: --add-spare vdd: two spares on both nodes.
func (p *procedures) addSpare(ctx context.Context) error {
	if err := p.confirmed(ctx, "add-spare", func() error {
		_, err := p.mdadm(ctx, 1, "--manage /dev/md0 --add-spare /dev/vdd")
		return err
	}); err != nil {
		return err
	}
	return p.settle(ctx, "add-spare", mdWant{raidDisks: 2, spares: 2}, procRAID10UUID)
}

// switchRecovery: node1 fails vda (a spare takes its place, slowly), node1 stops mid-recovery,
// node2 takes the recovery over and ends it.
func (p *procedures) switchRecovery(ctx context.Context) error {
	for n := 1; n <= 2; n++ {
		if err := p.slowSync(ctx, n, true); err != nil {
			return err
		}
	}
	if _, err := p.mdadm(ctx, 1, "--manage /dev/md0 --fail /dev/vda"); err != nil {
		return err
	}
	w, err := p.waitMdstat(ctx, 1, "switch-recovery: node1 recovers (or a peer does)", "recovery|REMOTE")
	if err != nil {
		return err
	}
	p.l.Logf("switch-recovery: node1 shows %s", w)
	if _, err := p.mdadm(ctx, 1, "--stop /dev/md0"); err != nil {
		return err
	}
	if err := p.slowSync(ctx, 2, false); err != nil {
		return err
	}
	if _, err := p.waitMdstat(ctx, 2, "switch-recovery: node2 recovers", "recovery|REMOTE"); err != nil {
		p.l.Logf("switch-recovery: node2's recovery not seen running (%v)", err)
	}
	if _, err := waitSettled(ctx, p.l, []int{2}, mdWant{raidDisks: 2, spares: 1, faulty: "vda"}, procSettle); err != nil {
		return fmt.Errorf("switch-recovery: %w", err)
	}
	if err := p.agentsAndKernel(ctx, []int{2}, procRAID10UUID, true); err != nil {
		return err
	}
	return p.slowSync(ctx, 1, false)
}
