package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ControldOptions is the lab for md-cluster run by mdclusterd's own DLM control plane: guests
// with user networking (etcd on the host) and two shared disks.
var ControldOptions = vmlab.Options{Nodes: 2, Disks: 2, UserNet: true}

// checkScript starts a check of md0, retrying while md is still busy finishing a sync.
const checkScript = `for i in $(seq 1 80); do echo check > /sys/block/md0/md/sync_action 2>/dev/null && exit 0; sleep 0.25; done
echo check > /sys/block/md0/md/sync_action`

// shimEnv runs mdadm with mdcluster's libcmap shim, as mdcadm does.
const shimEnv = "LD_LIBRARY_PATH=/usr/lib/mdcluster/cmapshim "

// ControldConfig is AgentConfig with the agent running the kernel DLM's control plane; the
// arrays are left to the scenario (no array is managed by the agent).
func ControldConfig(node, etcdPort int, ttl, margin time.Duration) string {
	return vmlab.AgentConfig(node, etcdPort, ttl.String(), margin.String(), "  []\n") +
		"dlm_control: {mode: mdclusterd}\n"
}

// StartControlPlane starts mdclusterd as the DLM control plane on node (a lab with UserNet; etcd
// on the host's loopback at etcdPort, see HostEtcd) and waits until it is ready; kernel messages go to the console too, where the host stamps them.
func StartControlPlane(ctx context.Context, l *vmlab.Lab, node, etcdPort int, ttl, margin time.Duration) error {
	return startControlPlaneConfig(ctx, l, node, ControldConfig(node, etcdPort, ttl, margin))
}

// startControlPlaneConfig is startControlPlane with a whole agent configuration.
func startControlPlaneConfig(ctx context.Context, l *vmlab.Lab, node int, cfg string) error {
	if _, err := step(ctx, l, node, quick, "kernel messages to the console", "dmesg -n 7"); err != nil {
		return err
	}
	if err := startAgent(ctx, l, node, cfg); err != nil {
		return err
	}
	// Ready is what the kernel's DLM is given: the cluster and this node's own comm (local).
	_, err := step(ctx, l, node, quick, "mdclusterd: DLM control plane ready", fmt.Sprintf(
		`for i in $(seq 1 150); do [ "$(cat /sys/kernel/config/dlm/cluster/comms/%d/local 2>/dev/null)" = 1 ] && exit 0; sleep 0.2; done
ls -R /sys/kernel/config/dlm; tail -n 20 /tmp/mdclusterd.log; exit 1`, node))
	return err
}

// joinedSlot waits for node's kernel to report joining the md-cluster and returns the line.
func joinedSlot(ctx context.Context, l *vmlab.Lab, node, slot int) error {
	out, err := step(ctx, l, node, quick, "kernel: joined the md-cluster",
		"for i in $(seq 1 60); do dmesg | grep 'md-cluster: Joined cluster' && exit 0; sleep 0.5; done; exit 1")
	if err != nil {
		return err
	}
	lines := vmlab.Lines(out)
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, fmt.Sprintf("slot %d", slot)) {
		return fmt.Errorf("node%d joined with an unexpected slot (want %d): %s", node, slot, last)
	}
	return nil
}

// CrashRecovery is what a crash-recovery scenario measured on the host's clock.
type CrashRecovery struct {
	Detected  time.Duration // crash to the survivor noticing the failure (control plane log)
	Recovery  time.Duration // crash to md-cluster's "Initiating recovery" on the survivor
	Rejoined  bool
	SlotReuse int
}

// createClusteredRAID1 creates md0 on node1 (through the libcmap shim), waits for its initial
// sync, and assembles it on node2; both kernels must report their slot.
func createClusteredRAID1(ctx context.Context, l *vmlab.Lab, mdadmEnv string) error {
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 (--bitmap=clustered --nodes=2)",
		mdadmEnv+"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if err := readWrite(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, 1, "md0", "bitmap/metadata"); err != nil {
		return err
	} else if err := expect("bitmap/metadata on node1", got, "clustered"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if err := readWrite(ctx, l, 2, "md0"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if err := joinedSlot(ctx, l, n, n); err != nil {
			return err
		}
	}
	return nil
}

// writeBothThenCrash2 writes from both nodes, has node2 dirty its bitmap slot and crash, and
// returns the host time of the crash.
func writeBothThenCrash2(ctx context.Context, l *vmlab.Lab) (time.Time, error) {
	if err := odWrite(ctx, l, 1, "/dev/md0", 0, "from-node1"); err != nil {
		return time.Time{}, err
	}
	if err := odRead(ctx, l, 2, "/dev/md0", 0, "from-node1"); err != nil {
		return time.Time{}, err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 4096, "from-node2"); err != nil {
		return time.Time{}, err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 4096, "from-node2"); err != nil {
		return time.Time{}, err
	}
	if _, err := step(ctx, l, 2, slow, "node2 writes 4 MiB at 128 MiB (O_DIRECT)",
		"dd if=/dev/urandom of=/dev/md0 bs=64k count=64 seek=2048 oflag=direct 2>&1"); err != nil {
		return time.Time{}, err
	}
	if err := odWrite(ctx, l, 2, "/dev/md0", 8192, "node2-last-write"); err != nil {
		return time.Time{}, err
	}
	crashCtx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(2).Crash(crashCtx); err != nil {
		return time.Time{}, err
	}
	l.Logf("node2: crashed (sysrq c)")
	return crashed, nil
}

// checkRecovered waits for node1's resync of node2's slot, reads node2's writes back, checks
// the slot is clean and that a `check` finds no mismatch.
func checkRecovered(ctx context.Context, l *vmlab.Lab) error {
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 8192, "node2-last-write"); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/md0", 4096, "from-node2"); err != nil {
		return err
	}
	if err := waitClean(ctx, l, 1, "/dev/vda", 1); err != nil {
		return err
	}
	return checkClean(ctx, l, 1)
}

// checkClean runs a check of md0 on node (under md-cluster, it takes the resync lock and sends
// its messages) and wants it to end as a check with no mismatch.
func checkClean(ctx context.Context, l *vmlab.Lab, node int) error {
	if _, err := step(ctx, l, node, quick, "start a check of md0", checkScript); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, node, "md0"); err != nil {
		return err
	}
	last, err := sysfs(ctx, l, node, "md0", "last_sync_action")
	if err != nil {
		return err
	}
	if err := expect("last_sync_action after the check", last, "check"); err != nil {
		return err
	}
	got, err := sysfs(ctx, l, node, "md0", "mismatch_cnt")
	if err != nil {
		return err
	}
	return expect("mismatch_cnt after the check", got, "0")
}

// waitRecovery follows survivor's console after dead crashed: the control plane notices the
// failure, removes the node after fencing, and md-cluster starts recovering its slot. The order
// and the fencing wait are checked on the host's clock.
func waitRecovery(ctx context.Context, l *vmlab.Lab, survivor, dead, nodes int, crashed time.Time, ttl, margin time.Duration) (CrashRecovery, error) {
	var fig CrashRecovery
	wctx, cancel := context.WithTimeout(ctx, ttl+margin+2*time.Minute)
	defer cancel()
	vm := l.Node(survivor)
	det, err := vm.WaitConsole(wctx, fmt.Sprintf("component=controld node=%d lockspaces=", dead))
	if err != nil {
		return fig, fmt.Errorf("node%d never noticed node%d's failure: %w", survivor, dead, err)
	}
	fenced, err := vm.WaitConsole(wctx, `msg="node fenced by`)
	if err != nil {
		return fig, fmt.Errorf("node%d never fenced node%d: %w", survivor, dead, err)
	}
	rm, err := vm.WaitConsole(wctx, fmt.Sprintf("component=controld node=%d lockspace=", dead))
	if err != nil {
		return fig, fmt.Errorf("node%d never removed node%d: %w", survivor, dead, err)
	}
	rec, err := vm.WaitConsole(wctx, fmt.Sprintf("Node %d/%d down. My slot: %d. Initiating recovery", dead, nodes, survivor))
	if err != nil {
		return fig, fmt.Errorf("md-cluster on node%d did not recover slot %d: %w", survivor, dead, err)
	}
	fig.Detected, fig.Recovery = det.At.Sub(crashed), rec.At.Sub(crashed)
	l.Logf("host clock: node%d crash +0.0s, failure noticed +%.1fs, fenced +%.1fs, removed +%.1fs, md-cluster recovery +%.1fs (TTL %s, margin %s)",
		dead, fig.Detected.Seconds(), fenced.At.Sub(crashed).Seconds(), rm.At.Sub(crashed).Seconds(), fig.Recovery.Seconds(), ttl, margin)
	l.Logf("node%d kernel: %s", survivor, strings.TrimSpace(rec.Text))
	if fenced.At.Sub(det.At) < margin-500*time.Millisecond {
		return fig, fmt.Errorf("node%d was fenced %.1fs after its failure was noticed, before the fencing wait of %s", dead, fenced.At.Sub(det.At).Seconds(), margin)
	}
	if rec.At.Before(fenced.At) {
		return fig, fmt.Errorf("md-cluster recovered slot %d before node%d was fenced", dead, dead)
	}
	return fig, nil
}
