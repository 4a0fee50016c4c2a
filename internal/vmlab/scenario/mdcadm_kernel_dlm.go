package scenario

import (
	"context"
	"fmt"
	"strings"

	"mdcluster.dev/internal/vmlab"
)

// MdcadmKernelDLMOptions: two guests running corosync and dlm_controld, two shared disks.
var MdcadmKernelDLMOptions = vmlab.Options{Nodes: 2, Disks: 2}

// assembleWrapped runs mdcadm --assemble on node2 with mdadm wrapped, and prints mdcadm's exit
// status and what mdadm ran, if it ran.
const assembleWrapped = wrapMdadm + `PATH=/tmp/wrap:$PATH mdcadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1; echo "rc=$?"
[ -e /tmp/mdadm-ran ] && echo "mdadm ran: $(cat /tmp/mdadm-ran)"; true`

// MdcadmKernelDLM checks mdadm's admin lock on a kernel-DLM cluster (corosync and dlm_controld,
// agents with lock_engine kernel-dlm, a clustered RAID1): while another holder has
// bitmap<cluster> in EX (dlmprobe standing in for a plain mdadm on node1), node2's
// `mdcadm --assemble` waits, then refuses naming the lock and runs no mdadm; once it is free the
// same command assembles. `mdcadm --manage --remove failed` on the clustered array, where mdadm
// takes the lock itself, completes: mdcadm does not take it too.
func MdcadmKernelDLM(ctx context.Context, l *vmlab.Lab) error {
	if err := corosyncStack(ctx, l); err != nil {
		return err
	}
	if err := clusteredArrayAgents(ctx, l); err != nil {
		return err
	}
	if err := assembleRefusedWhileHeld(ctx, l); err != nil {
		return err
	}
	return assembleWithLockFree(ctx, l)
}

// corosyncStack starts corosync on both nodes and, once quorate, dlm_controld.
func corosyncStack(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		if err := launchCmpCorosync(ctx, l, n); err != nil {
			return err
		}
	}
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, slow, "corosync quorate, dlm_controld up", fmt.Sprintf(
			`for i in $(seq 1 240); do %[1]scorosync-quorumtool -s 2>/dev/null | grep -q 'Quorate: *Yes' && break; sleep 0.5; done
%[1]scorosync-quorumtool -s | grep -q 'Quorate: *Yes' || { cat /tmp/corosync.log; exit 1; }
(%[1]sdlm_controld --enable_fencing 0 > /tmp/dlm_controld.log 2>&1 &)
for i in $(seq 1 120); do %[1]sdlm_tool status >/dev/null 2>&1 && exit 0; sleep 0.5; done
cat /tmp/dlm_controld.log; exit 1`, cmpCorosyncEnv)); err != nil {
			return err
		}
	}
	return nil
}

// clusteredArrayAgents creates the clustered RAID1 on node1 and starts both agents on the
// kernel DLM with the array configured.
func clusteredArrayAgents(ctx context.Context, l *vmlab.Lab) error {
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1",
		cmpCorosyncEnv+"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	uuid, err := step(ctx, l, 1, quick, "array UUID", "mdadm --detail --export /dev/md0 | sed -n 's/^MD_UUID=//p'")
	if err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		cfg := fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine: {type: kernel-dlm}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
dlm_control: {mode: external}
arrays:
  - {uuid: %[2]s, name: mirror, mode: clustered, devices: [/dev/vda, /dev/vdb]}
`, n, uuid)
		if err := startAgent(ctx, l, n, cfg); err != nil {
			return err
		}
	}
	return nil
}

// assembleRefusedWhileHeld holds mdadm's admin lock with dlmprobe on node1: mdcadm --assemble on
// node2 waits for it, then refuses without running mdadm.
func assembleRefusedWhileHeld(ctx context.Context, l *vmlab.Lab) error {
	probed := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, slow)
		defer cancel()
		_, err := l.Node(1).Run(cctx, "dlmprobe -ls mdlab -lock bitmapmdlab -mode EX -hold 25s > /tmp/adminlock.json 2>&1")
		probed <- err
	}()
	if _, err := step(ctx, l, 1, quick, "dlmprobe holds bitmapmdlab in EX",
		`for i in $(seq 1 100); do grep -q '"granted"' /tmp/adminlock.json 2>/dev/null && exit 0; sleep 0.2; done; cat /tmp/adminlock.json; exit 1`); err != nil {
		return err
	}
	out, err := step(ctx, l, 2, slow, "mdcadm --assemble waits for the admin lock, then refuses", assembleWrapped)
	if err != nil {
		return err
	}
	if err := expect("node2 mdcadm --assemble while the admin lock is held", out,
		"mdcadm: mdadm's admin lock bitmapmdlab in lockspace mdlab is held by another mdadm (waited 10s); not assembling\nrc=1"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "dlmprobe lets bitmapmdlab go",
		`for i in $(seq 1 150); do grep -q '"unlocked"' /tmp/adminlock.json && exit 0; sleep 0.2; done; cat /tmp/adminlock.json; exit 1`); err != nil {
		return err
	}
	if err := <-probed; err != nil {
		return fmt.Errorf("node1 dlmprobe: %w", err)
	}
	return nil
}

// assembleWithLockFree runs mdcadm --assemble on node2 with the admin lock free (mdadm runs),
// uses the array, and removes failed members, for which mdadm takes the admin lock itself.
func assembleWithLockFree(ctx context.Context, l *vmlab.Lab) error {
	out, err := step(ctx, l, 2, slow, "mdcadm --assemble under the admin lock", assembleWrapped)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(out, "rc=0\nmdadm ran: --assemble /dev/md0 /dev/vda /dev/vdb") {
		return fmt.Errorf("node2 mdcadm --assemble with the admin lock free: %q", out)
	}
	if err := readWrite(ctx, l, 2, "md0"); err != nil {
		return err
	}
	out, err = step(ctx, l, 2, slow, "mdcadm --manage --remove failed: mdadm takes the admin lock itself",
		cmpCorosyncEnv+`mdcadm --manage /dev/md0 --remove failed 2>&1; echo "rc=$?"`)
	if err != nil {
		return err
	}
	return expect("mdcadm --manage --remove failed on the clustered array", out, "rc=0")
}
