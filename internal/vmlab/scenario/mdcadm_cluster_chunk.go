package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// MdcadmClusterChunkOptions: two guests with user networking (etcd on the host) and two small
// shared disks, so a RAID10 reshape takes seconds.
var MdcadmClusterChunkOptions = vmlab.Options{Nodes: 2, Disks: 2, DiskSize: 64 << 20, UserNet: true}

// mdcadmClusterChunkUUID is the clustered RAID10 of MdcadmClusterChunk; the agents know it before
// mdadm creates it.
const mdcadmClusterChunkUUID = "5c4a9e00:6368756e:6b000000:00000010"

// chunkState prints what node's kernel and mdadm say of md0's chunk size, and any reshape.
const chunkState = `S=/sys/block/md0/md
echo "sysfs=$(cat $S/chunk_size)"
echo "detail=$(mdadm --detail /dev/md0 | sed -n 's/^ *Chunk Size : //p')"
echo "reshape=$(cat $S/reshape_position)"`

// MdcadmClusterChunk is review item 18 on md-cluster run by mdclusterd's control plane: a
// clustered RAID10 (64K chunks) runs on both guests, managed by both agents. (1) node1's
// `mdcadm --grow /dev/md0 --chunk=128` is refused with its one-line reason and exit 1, runs no
// mdadm, and both nodes keep 64K chunks (md/chunk_size and mdadm --detail). (2) The same grow
// with plain mdadm reshapes node1 to 128K while node2 keeps 64K: the nodes disagree where data
// lives, so the refusal guards a real hazard. It returns how long node1's reshape took.
func MdcadmClusterChunk(ctx context.Context, l *vmlab.Lab, etcdPort int) (time.Duration, error) {
	const ttl, margin = 8 * time.Second, 3 * time.Second
	arrays := fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [/dev/vda, /dev/vdb]}\n", mdcadmClusterChunkUUID)
	for n := 1; n <= 2; n++ {
		cfg := vmlab.AgentConfig(n, etcdPort, ttl.String(), margin.String(), arrays) + "dlm_control: {mode: mdclusterd}\n"
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return 0, err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID10 (near=2, 64K chunks)",
		shimEnv+"mdadm --create /dev/md0 --run --level=10 --layout=n2 --chunk=64 --raid-devices=2 --bitmap=clustered --nodes=2 "+
			"--metadata=1.2 --name=shared --uuid="+mdcadmClusterChunkUUID+" /dev/vda /dev/vdb 2>&1"); err != nil {
		return 0, err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return 0, err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return 0, err
	}
	for n := 1; n <= 2; n++ {
		if err := readWrite(ctx, l, n, "md0"); err != nil {
			return 0, err
		}
	}
	if err := bothChunks(ctx, l, "before any grow", 65536, 65536); err != nil {
		return 0, err
	}
	out, err := step(ctx, l, 1, slow, "mdcadm --grow --chunk=128 is refused and runs no mdadm", wrapMdadm+
		`PATH=/tmp/wrap:$PATH mdcadm --grow /dev/md0 --chunk=128 2>&1; echo "rc=$?"
[ -e /tmp/mdadm-ran ] && echo "mdadm ran: $(cat /tmp/mdadm-ran)"; true`)
	if err != nil {
		return 0, err
	}
	want := "mdcadm: array /dev/md0 is clustered: md-cluster does not carry a chunk size change to the other nodes " +
		"(the other nodes keep their chunk size and place data elsewhere); not running mdadm\nrc=1"
	if err := expect("node1 mdcadm --grow --chunk=128", out, want); err != nil {
		return 0, err
	}
	if err := bothChunks(ctx, l, "after mdcadm's refusal", 65536, 65536); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := step(ctx, l, 1, slow, "plain mdadm --grow --chunk=128, then its reshape to the end",
		shimEnv+`mdadm --grow /dev/md0 --chunk=128 2>&1 || exit 1
S=/sys/block/md0/md
for i in $(seq 1 1200); do [ "$(cat $S/reshape_position)" = none ] && [ "$(cat $S/sync_action)" = idle ] && exit 0; sleep 0.25; done
cat $S/reshape_position $S/sync_action; exit 1`); err != nil {
		return 0, err
	}
	took := time.Since(start)
	l.Logf("node1: plain mdadm's reshape to 128K chunks took %.1fs", took.Seconds())
	// node2 heard of the reshape through md-cluster; give it time to settle before comparing.
	if _, err := step(ctx, l, 2, slow, "node2 settles", `S=/sys/block/md0/md
for i in $(seq 1 240); do [ "$(cat $S/reshape_position)" = none ] && [ "$(cat $S/sync_action)" = idle ] && exit 0; sleep 0.25; done
cat $S/reshape_position $S/sync_action; exit 1`); err != nil {
		return took, err
	}
	return took, bothChunks(ctx, l, "after plain mdadm's grow", 131072, 65536)
}

// bothChunks checks md0's chunk size on node1 and node2 in sysfs (bytes) and in mdadm --detail
// (KiB), and logs both.
func bothChunks(ctx context.Context, l *vmlab.Lab, when string, want1, want2 int) error {
	for n, want := range []int{1: want1, 2: want2} {
		if n == 0 {
			continue
		}
		out, err := step(ctx, l, n, quick, "md0 chunk size "+when, chunkState)
		if err != nil {
			return err
		}
		l.Logf("node%d %s: %s", n, when, strings.ReplaceAll(out, "\n", ", "))
		if !strings.Contains(out+"\n", fmt.Sprintf("sysfs=%d\n", want)) || !strings.Contains(out+"\n", fmt.Sprintf("detail=%dK\n", want/1024)) {
			return fmt.Errorf("node%d %s: want chunk %d bytes, kernel and mdadm say:\n%s", n, when, want, out)
		}
	}
	return nil
}
