package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// OCFOptions is the lab the OCF agent scenario needs: one guest (a one-node DLM for the clustered
// array) and four small shared disks: vda+vdb for a RAID1 with an internal bitmap, vdc+vdd for a
// clustered one.
var OCFOptions = vmlab.Options{Nodes: 1, Disks: 4, DiskSize: 64 << 20}

// ocfAgent is the agent where the package installs it.
const ocfAgent = "/usr/lib/ocf/resource.d/mdcluster/mdcluster"

// agentRC runs the installed OCF agent with an action and OCF environment assignments and returns
// its exit code and output (stdout and stderr).
func agentRC(ctx context.Context, l *vmlab.Lab, node int, env, action string) (int, string, error) {
	script := fmt.Sprintf("export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=r0 %s; %s %s 2>&1", env, ocfAgent, action)
	r, err := l.Step(ctx, node, slow, fmt.Sprintf("agent %s (%s)", action, env), script+"; echo rc=$?")
	if err != nil {
		return -1, r.Stdout, err
	}
	out := strings.TrimSpace(r.Stdout)
	i := strings.LastIndex(out, "rc=")
	if i < 0 {
		return -1, out, fmt.Errorf("agent %s: no exit code in %q", action, out)
	}
	var rc int
	if _, err := fmt.Sscan(out[i+3:], &rc); err != nil {
		return -1, out, fmt.Errorf("agent %s: %w in %q", action, err, out)
	}
	return rc, strings.TrimSpace(out[:i]), nil
}

// expectRC runs the agent and fails unless it exits with want.
func expectRC(ctx context.Context, l *vmlab.Lab, env, action string, want int) (string, error) {
	rc, out, err := agentRC(ctx, l, 1, env, action)
	if err != nil {
		return out, err
	}
	if rc != want {
		return out, fmt.Errorf("agent %s with %q: rc %d, want %d\n%s", action, env, rc, want, out)
	}
	return out, nil
}

// OCFAgent runs the installed OCF agent on the real md driver:
//   - Debian's ocf-tester passes against it for a RAID1 with an internal bitmap (probe, start,
//     monitor, restart, double start and stop, meta-data as nobody, linted against the DTD);
//   - the depth-10 monitor reads a block with O_DIRECT from the running array;
//   - as a clone (clone-max 2) it refuses that array: validate-all and start exit 6 and nothing is
//     assembled, and a monitor of the array running cloned exits 6;
//   - a monitor of a broken array (both RAID1 members failed) exits 1, stop still stops it;
//   - a clustered (md-cluster) RAID1 starts, monitors at depth 10 and stops as a clone.
func OCFAgent(ctx context.Context, l *vmlab.Lab) error {
	if _, err := installDeb(ctx, l, 1); err != nil {
		return err
	}
	u, err := ocfTester(ctx, l)
	if err != nil {
		return err
	}
	if err := plainArrayActions(ctx, l, u); err != nil {
		return err
	}
	return clusteredArrayActions(ctx, l)
}

// ocfTester creates a plain RAID1 (stopped), runs ocf-tester against the installed agent on it
// and returns its UUID.
func ocfTester(ctx context.Context, l *vmlab.Lab) (string, error) {
	u, err := arrayUUID(ctx, l, "md0", "mdadm --create RAID1 (internal bitmap) on vda vdb, then stop it",
		"--level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 /dev/vda /dev/vdb")
	if err != nil {
		return "", err
	}
	l.Logf("node1: RAID1 with internal bitmap: UUID %s", u)
	out, err := step(ctx, l, 1, slow, "ocf-tester against the installed agent",
		"OCF_ROOT=/usr/lib/ocf ocf-tester -v -n r0 -o uuid="+u+" "+ocfAgent+" 2>&1")
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, ocfAgent+" passed all tests") {
		return "", fmt.Errorf("ocf-tester did not pass:\n%s", out)
	}
	l.Logf("node1: ocf-tester: %s", vmlab.Lines(out)[len(vmlab.Lines(out))-1])
	return u, nil
}

// plainArrayActions drives the agent's actions on the plain RAID1: refused as a clone, started,
// monitored, reported broken once both members failed, stopped.
func plainArrayActions(ctx context.Context, l *vmlab.Lab, u string) error {
	env := "OCF_RESKEY_uuid=" + u
	clone := env + " OCF_RESKEY_CRM_meta_clone_max=2"
	// Cloned, stopped: the agent reads the member's bitmap (internal) and refuses.
	if out, err := expectRC(ctx, l, clone, "validate-all", 6); err != nil {
		return err
	} else if !strings.Contains(out, "internal bitmap, not a clustered one") {
		return fmt.Errorf("clone refusal gave no reason naming the bitmap:\n%s", out)
	}
	if _, err := expectRC(ctx, l, clone, "start", 6); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "nothing was assembled by the refused start", "! ls /sys/block | grep -q '^md'"); err != nil {
		return err
	}
	if _, err := expectRC(ctx, l, env, "start", 0); err != nil {
		return err
	}
	if _, err := expectRC(ctx, l, env+" OCF_CHECK_LEVEL=10", "monitor", 0); err != nil {
		return err
	}
	if _, err := expectRC(ctx, l, clone, "monitor", 6); err != nil {
		return err
	}
	md, err := step(ctx, l, 1, quick, "md device of the started array", "ls /sys/block | grep '^md'")
	if err != nil {
		return err
	}
	S := "/sys/block/" + md + "/md"
	if _, err := step(ctx, l, 1, quick, "fail both RAID1 members (the last one leaves the array broken)",
		"echo faulty > "+S+"/dev-vdb/state; echo faulty > "+S+"/dev-vda/state; cat "+S+"/array_state"); err != nil {
		return err
	}
	if out, err := expectRC(ctx, l, env, "monitor", 1); err != nil {
		return err
	} else if !strings.Contains(out, "broken") {
		return fmt.Errorf("monitor of the broken array gave no reason naming it:\n%s", out)
	}
	if _, err := expectRC(ctx, l, env, "stop", 0); err != nil {
		return err
	}
	if _, err := expectRC(ctx, l, env, "monitor", 7); err != nil {
		return err
	}
	return nil
}

// clusteredArrayActions drives the agent's actions, as a clone, on a clustered RAID1 the
// mdclusterd of a one-node cluster manages.
func clusteredArrayActions(ctx context.Context, l *vmlab.Lab) error {
	// A clustered RAID1 on a one-node cluster whose kernel DLM mdclusterd runs (embedded etcd;
	// the node address goes on lo, as a one-guest lab has no private NIC). The agent manages the
	// array, so the OCF agent's start goes through mdcadm and the agent's leases.
	const cu = "c0cf0000:00000000:00000000:00000001"
	if _, err := step(ctx, l, 1, time.Minute, "mdclusterd runs the kernel DLM (one node) and manages "+cu,
		"/lab/mdcluster-solo.sh "+cu+"=/dev/vdc,/dev/vdd 2>&1"); err != nil {
		return err
	}
	if _, err := arrayUUID(ctx, l, "md1", "mdadm --create clustered RAID1 on vdc vdd, then stop it",
		"--uuid="+cu+" --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 /dev/vdc /dev/vdd"); err != nil {
		return err
	}
	cenv := "OCF_RESKEY_uuid=" + cu + " OCF_RESKEY_CRM_meta_clone_max=2"
	for _, a := range []struct {
		env, action string
		rc          int
	}{{cenv, "validate-all", 0}, {cenv, "start", 0}, {cenv + " OCF_CHECK_LEVEL=10", "monitor", 0}, {cenv, "stop", 0}, {cenv, "monitor", 7}} {
		if _, err := expectRC(ctx, l, a.env, a.action, a.rc); err != nil {
			return err
		}
		if a.action == "start" {
			if got, err := step(ctx, l, 1, quick, "bitmap of the started clustered array",
				"cat /sys/block/md*/md/bitmap/metadata"); err != nil {
				return err
			} else if err := expect("bitmap/metadata", got, "clustered"); err != nil {
				return err
			}
		}
	}
	return nil
}
