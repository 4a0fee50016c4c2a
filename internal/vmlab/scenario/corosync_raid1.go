package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// CorosyncRAID1 is scenario (a) with Debian's corosync and dlm_controld at their defaults as the
// kernel DLM's control plane (mdclusterd uses the kernel DLM as its lock engine and leaves the
// control plane to them): same array, same writes, same crash, and the same checks. It returns
// the host-clock figures to compare with ControldRAID1's.
func CorosyncRAID1(ctx context.Context, l *vmlab.Lab) (CrashRecovery, error) {
	var fig CrashRecovery
	for n := 1; n <= 2; n++ {
		if err := launchCmpCorosync(ctx, l, n); err != nil {
			return fig, err
		}
	}
	for n := 1; n <= 2; n++ {
		if err := startCmpCorosync(ctx, l, n); err != nil {
			return fig, err
		}
	}
	if err := createClusteredRAID1(ctx, l, cmpCorosyncEnv); err != nil {
		return fig, err
	}
	crashed, err := writeBothThenCrash2(ctx, l)
	if err != nil {
		return fig, err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rec, err := l.Node(1).WaitConsole(wctx, "Node 2/2 down. My slot: 1. Initiating recovery")
	if err != nil {
		return fig, fmt.Errorf("md-cluster on node1 did not recover slot 2: %w", err)
	}
	fig.Recovery = rec.At.Sub(crashed)
	l.Logf("host clock: node2 crash +0.0s, md-cluster recovery +%.1fs (corosync and dlm_controld defaults)", fig.Recovery.Seconds())
	if err := checkRecovered(ctx, l); err != nil {
		return fig, err
	}
	if _, err := l.Restart(ctx, 2); err != nil {
		return fig, err
	}
	if err := launchCmpCorosync(ctx, l, 2); err != nil {
		return fig, err
	}
	if err := startCmpCorosync(ctx, l, 2); err != nil {
		return fig, err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble after the reboot", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return fig, err
	}
	if err := readWrite(ctx, l, 2, "md0"); err != nil {
		return fig, err
	}
	if err := joinedSlot(ctx, l, 2, 2); err != nil {
		return fig, err
	}
	fig.Rejoined, fig.SlotReuse = true, 2
	return fig, odRead(ctx, l, 2, "/dev/md0", 8192, "node2-last-write")
}

// startCmpCorosync waits until node's corosync is quorate, starts dlm_controld (fencing off:
// the lab has no fence device, and the crashed guest is gone) and then mdclusterd with the
// kernel DLM lock engine and an external control plane.
func startCmpCorosync(ctx context.Context, l *vmlab.Lab, node int) error {
	script := fmt.Sprintf(`for i in $(seq 1 240); do %[1]scorosync-quorumtool -s 2>/dev/null | grep -q 'Quorate: *Yes' && break; sleep 0.5; done
%[1]scorosync-quorumtool -s | grep -q 'Quorate: *Yes' || { cat /tmp/corosync.log; exit 1; }
(%[1]sdlm_controld --enable_fencing 0 > /tmp/dlm_controld.log 2>&1 &)
for i in $(seq 1 120); do %[1]sdlm_tool status >/dev/null 2>&1 && exit 0; sleep 0.5; done
cat /tmp/dlm_controld.log; exit 1`, cmpCorosyncEnv)
	if _, err := step(ctx, l, node, slow, "corosync quorate, dlm_controld up", script); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine: {type: kernel-dlm}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
dlm_control: {mode: external}
`, node)
	return startAgent(ctx, l, node, cfg)
}
