package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// MdcadmOptions: two guests with agents on the host's etcd and three shared disks.
var MdcadmOptions = AgentOptions

// clusterReport is the part of `mdcadm --cluster-status --json` the scenario reads.
type clusterReport struct {
	Status  api.Status `json:"status"`
	Bitmaps []struct {
		Array  string `json:"array"`
		Member string `json:"member"`
		Slots  []struct {
			Slot   int    `json:"slot"`
			Chunks uint64 `json:"chunks"`
			Dirty  uint64 `json:"dirty"`
		} `json:"slots"`
	} `json:"bitmaps"`
}

// MdcadmGuard runs mdcadm's changing modes against two agents holding an exclusive RAID5:
// node2's `mdcadm --assemble` is refused naming node1 without running mdadm; node1's
// `mdcadm --add` takes the recovery lease, visible in status while md rebuilds, and the rebuild
// completes; `mdcadm --cluster-status --json` shows both nodes, the holder and the bitmap slots.
// Not covered: `mdcadm --stop` handing the array to node2. node1's agent assembles an exclusive
// array again as long as it holds the activation lease, and its API lets the lease go only while
// md does not run the array, so the hand-over needs a change in the agent (mdcadm --stop now
// says so and exits 1).
func MdcadmGuard(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	var mdName string
	for n := 1; n <= 2; n++ {
		if err := startAgent(ctx, l, n, vmlab.AgentConfig(n, etcdPort, "10s", "4s", arrays)); err != nil {
			return err
		}
		if n == 1 {
			if mdName, _, err = waitAssembled(ctx, l, 1, uuid, 60*time.Second); err != nil {
				return err
			}
			// A write takes md out of read-auto, where it would not rebuild.
			if err := odWrite(ctx, l, 1, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
				return err
			}
		}
	}
	if err := waitActiveOn(ctx, l, 2, "node1"); err != nil {
		return err
	}
	out, err := step(ctx, l, 2, slow, "mdcadm --assemble on node2 is refused and runs no mdadm", wrapMdadm+
		`PATH=/tmp/wrap:$PATH mdcadm --assemble /dev/md/data --run /dev/vda /dev/vdb /dev/vdc 2>&1; echo "rc=$?"
[ -e /tmp/mdadm-ran ] && echo "mdadm ran: $(cat /tmp/mdadm-ran)"
running() {
`+mdWithUUID(uuid)+`
}
[ -n "$(running)" ] && echo "running here as $(running)"; true`)
	if err != nil {
		return err
	}
	if err := expect("node2 mdcadm --assemble", out, "mdcadm: array data is active on node1 (activation lease held); not assembling\nrc=1"); err != nil {
		return err
	}
	if err := mdcadmAdd(ctx, l, mdName); err != nil {
		return err
	}
	if err := mdcadmStatus(ctx, l); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "lift the rebuild speed limit", "echo 1000000 > /sys/block/"+mdName+"/md/sync_speed_max"); err != nil {
		return err
	}
	last, err := waitSync(ctx, l, 1, mdName)
	if err != nil {
		return err
	}
	if err := expect("node1 last sync action", last, "recovery"); err != nil {
		return err
	}
	l.Logf("node1: rebuild of vdc finished")
	if err := odRead(ctx, l, 1, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
		return err
	}
	// A clean stop through mdcadm hands the array over: node1's agent gives the activation
	// lease back and stands by, and node2's agent, waiting for it, assembles the array.
	if _, err := step(ctx, l, 1, slow, "mdcadm --stop on node1", "mdcadm --stop /dev/"+mdName+" 2>&1"); err != nil {
		return err
	}
	name2, _, err := waitAssembled(ctx, l, 2, uuid, 60*time.Second)
	if err != nil {
		return fmt.Errorf("after mdcadm --stop on node1: %w", err)
	}
	l.Logf("node2: took the array over after node1's clean stop (%s)", name2)
	if on1, err := step(ctx, l, 1, quick, "node1 does not run the array again", "sleep 3\nrunning() {\n"+mdWithUUID(uuid)+"\n}\nrunning"); err != nil || on1 != "" {
		return fmt.Errorf("node1 runs the array again after its clean stop (%q, %v)", on1, err)
	}
	return odRead(ctx, l, 2, "/dev/"+name2, 1<<20, "written-by-node1")
}

// mdcadmAdd fails vdc out of node1's array, wipes it, and adds it back with mdcadm under a
// rebuild speed limit; the agent must hold the sync lease while md rebuilds.
func mdcadmAdd(ctx context.Context, l *vmlab.Lab, mdName string) error {
	// The agent holds a sync lease for a few seconds after it assembles: wait until it is back,
	// so that the lease seen during the rebuild is the one mdcadm asked for.
	if err := waitNoSyncLease(ctx, l, 1); err != nil {
		return err
	}
	out, err := step(ctx, l, 1, slow, "mdcadm --fail, --remove, then --add vdc at a limited speed", wrapMdadm+fmt.Sprintf(
		`S=/sys/block/%[1]s/md; echo 100 > $S/sync_speed_min; echo 1000 > $S/sync_speed_max
mdcadm /dev/%[1]s --fail /dev/vdc || exit 1
sleep 1; mdcadm /dev/%[1]s --remove /dev/vdc || exit 1
mdadm --zero-superblock /dev/vdc || exit 1
PATH=/tmp/wrap:$PATH mdcadm /dev/%[1]s --add /dev/vdc || exit 1
cat /tmp/mdadm-ran`, mdName))
	if err != nil {
		return err
	}
	if err := expect("mdadm run by mdcadm --add", out, "/dev/"+mdName+" --add /dev/vdc"); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		st, err := agentStatus(ctx, l, 1)
		if err != nil {
			return err
		}
		if hasSyncLease(st, "node1") && len(st.Arrays) == 1 && st.Arrays[0].SyncAction == "recover" {
			l.Logf("node1: agent holds the sync lease mdcadm asked for while md recovers vdc")
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node1's agent never showed a sync lease during the rebuild")
}

// mdcadmStatus checks `mdcadm --cluster-status --json` on node1 during the rebuild.
func mdcadmStatus(ctx context.Context, l *vmlab.Lab) error {
	out, err := step(ctx, l, 1, quick, "mdcadm --cluster-status --json", "mdcadm --cluster-status --json")
	if err != nil {
		return err
	}
	var rep clusterReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return fmt.Errorf("mdcadm --cluster-status --json: %w: %s", err, out)
	}
	var names []string
	for _, m := range rep.Status.Members {
		names = append(names, m.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "node1") || !strings.Contains(strings.Join(names, ","), "node2") {
		return fmt.Errorf("cluster status members %v, want node1 and node2", names)
	}
	act := ""
	for _, le := range rep.Status.Leases {
		if le.Kind == api.KindActivation {
			act = le.Holder
		}
	}
	if act != "node1" || len(rep.Bitmaps) != 1 || len(rep.Bitmaps[0].Slots) == 0 || rep.Bitmaps[0].Slots[0].Chunks == 0 {
		return fmt.Errorf("cluster status: activation holder %q, bitmaps %+v; want node1 and the array's slots", act, rep.Bitmaps)
	}
	b := rep.Bitmaps[0]
	l.Logf("mdcadm --cluster-status: members %v, activation lease on %s, %s slot 0 read from %s: %d chunks, %d dirty",
		names, act, b.Array, b.Member, b.Slots[0].Chunks, b.Slots[0].Dirty)
	return nil
}
