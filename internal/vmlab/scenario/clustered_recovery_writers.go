package scenario

import (
	"context"
	"fmt"
	"os"

	"mdcluster.dev/internal/vmlab"
)

// regionBase is where node n's writer writes on md0: its own 1 MiB (nodes never write the
// same block, which md-cluster leaves to the application).
func regionBase(n int) int64 { return int64(n) * 16 << 20 }

// startRegionWriter starts O_DIRECT writes of numbered 4 KiB blocks into node's own region of
// md0 in the background; every acknowledged write appends its number to /tmp/acked. While
// /tmp/writes.hold exists the writer holds its next write and says so in /tmp/writes.held.
func startRegionWriter(ctx context.Context, l *vmlab.Lab, node int) error {
	_, err := step(ctx, l, node, quick, "write to md0 in the background (own region)", fmt.Sprintf(`: > /tmp/acked
(i=0; while :; do
  if [ -e /tmp/writes.hold ]; then : > /tmp/writes.held; sleep 0.1; continue; fi
  rm -f /tmp/writes.held
  mdlab odwrite /dev/md0 $((%[1]d + 4096*(i%%256))) node%[2]d-seq-$i 2>/dev/null && echo $i >> /tmp/acked; i=$((i+1)); sleep 0.1
done) >/dev/null 2>&1 &
echo $! > /tmp/writer.pid`, regionBase(node), node))
	return err
}

// ackedCounts reads how many writes each node's writer has had acknowledged so far.
func ackedCounts(ctx context.Context, l *vmlab.Lab) ([3]int, error) {
	var out [3]int
	for n := 1; n <= 3; n++ {
		s, err := step(ctx, l, n, quick, "writes acknowledged so far", "wc -l < /tmp/acked")
		if err != nil {
			return out, err
		}
		if _, err := fmt.Sscan(s, &out[n-1]); err != nil {
			return out, fmt.Errorf("node%d: acknowledged writes %q: %w", n, s, err)
		}
	}
	return out, nil
}

// holdWrites holds (or lets go) the background writers of nodes. Debian's 6.1 md-cluster RAID10
// can deadlock the whole cluster when a peer has a write in flight at the moment the recovering
// node's first RESYNCING message arrives while that peer's md thread waits for the token to
// write the superblock of the spare it just activated: the recovering node holds the token
// while it waits for the peer's ack; the peer's receive thread, before it acks, quiesces RAID10
// (raise_barrier), which waits for the write; the write waits for raid10d to submit it; raid10d
// waits for the token (seen in round 10 of a 15-round soak: md0_resync in resync_info_update,
// md0_cluster_recv in raise_barrier, md0_raid10 in metadata_update_start, a writer in
// pwrite64). No agent takes part in that cycle, and none can break it short of a node reset.
// The rounds therefore hold the peers' writes from the add until the recovery runs;
// MDCLUSTER_WRITES_DURING_ADD=1 keeps them going, to reproduce it.
func holdWrites(ctx context.Context, l *vmlab.Lab, nodes []int, hold bool) error {
	if os.Getenv("MDCLUSTER_WRITES_DURING_ADD") == "1" {
		return nil
	}
	what, script := "let the writer go", "rm -f /tmp/writes.hold"
	if hold {
		what, script = "hold the writer (no write in flight)", "touch /tmp/writes.hold; rm -f /tmp/writes.held\n"+
			"i=0; until [ -e /tmp/writes.held ]; do i=$((i+1)); [ $i -lt 400 ] || exit 1; sleep 0.05; done"
	}
	for _, n := range nodes {
		if _, err := step(ctx, l, n, quick, what, script); err != nil {
			return err
		}
	}
	return nil
}

// recoveryUnderway waits until the recovery started by node's add runs past its first window
// (its first RESYNCING message went round: every peer quiesced and acked it) or is already
// over, and every peer shows it (resync=REMOTE or recover=REMOTE) or the array whole, with no superblock write
// pending.
func recoveryUnderway(ctx context.Context, l *vmlab.Lab, node int, peers []int) error {
	if _, err := step(ctx, l, node, quick, "recovery past its first window", `first=
i=0; while [ $i -lt 500 ]; do
  c=$(cat /sys/block/md0/md/sync_completed); a=$(cat /sys/block/md0/md/sync_action)
  case "$c" in none) [ "$a" = idle ] && [ "$(cat /sys/block/md0/md/degraded)" = 0 ] && exit 0 ;; *) n=${c%% *}; [ -z "$first" ] && first=$n; [ "$n" != "$first" ] && exit 0 ;; esac
  i=$((i+1)); sleep 0.05
done; echo "sync_completed $c, sync_action $a"; exit 1`); err != nil {
		return err
	}
	for _, n := range peers {
		if _, err := step(ctx, l, n, quick, "the peer sees the recovery", `i=0; while [ $i -lt 500 ]; do
  if grep -qE '=REMOTE|\[UUU\]' /proc/mdstat && [ "$(cat /sys/block/md0/md/array_state)" != write-pending ]; then exit 0; fi
  i=$((i+1)); sleep 0.05
done; cat /proc/mdstat; exit 1`); err != nil {
			return err
		}
	}
	return nil
}
