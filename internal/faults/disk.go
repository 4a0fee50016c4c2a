package faults

import (
	"context"
	"fmt"
	"strings"

	"mdcluster.dev/internal/faults/check"
)

// diskFail fails a member of an array on a node running it, removes it after f.Delay and adds
// it back. On the exclusive RAID5 that is a re-add (its bitmap limits the recovery to what
// changed meanwhile). On the clustered RAID10 a re-add would rebuild the member from this
// node's bitmap only and lose the other nodes' writes made while it was out, so every peer's
// agent must refuse md-cluster's new-disk request for it; the campaign tries the re-add anyway,
// records it as a violation if md took it, and brings the member back as an operator must:
// --zero-superblock, then --add (a full recovery).
func (c *campaign) diskFail(ctx context.Context, f Fault) (int, error) {
	a, n := r10, c.pick(f)
	if f.Array == r5.Tag {
		a, n = r5, c.holder()
		if n == 0 {
			return 0, nil
		}
	}
	dev := a.Devices[f.Member]
	md, _ := c.mdOf(n, a)
	if md == "" {
		return n, nil
	}
	err := c.failAndRemove(ctx, n, md, dev, f)
	if err == nil && a.Tag == r5.Tag {
		_, err = c.step(ctx, n, slow, "re-add "+dev, fmt.Sprintf(`mdadm /dev/%[1]s --re-add %[2]s 2>&1 || { mdadm --zero-superblock %[2]s 2>&1; mdadm /dev/%[1]s --add %[2]s 2>&1; }`, md, dev))
	}
	if err == nil && a.Tag == r10.Tag {
		err = c.clusteredAdd(ctx, n, md, dev)
	}
	if err != nil && c.failedOnReset(ctx, n) {
		return n, nil
	}
	if err == nil && a.Tag == r10.Tag {
		c.staleFaulty(ctx, n, dev)
	}
	return n, err
}

// failAndRemove fails dev in md on node n and removes it after f.Delay (retried while md still
// holds it).
func (c *campaign) failAndRemove(ctx context.Context, n int, md, dev string, f Fault) error {
	_, err := c.step(ctx, n, slow, fmt.Sprintf("fail %s in %s, remove it after %s", dev, md, f.Delay), fmt.Sprintf(
		`export LD_LIBRARY_PATH=/usr/lib/mdcluster/cmapshim
mdadm /dev/%[1]s --fail %[2]s 2>&1 || exit 1
sleep %[3]f
for i in $(seq 1 20); do mdadm /dev/%[1]s --remove %[2]s 2>&1 && exit 0; sleep 0.5; done; exit 1`,
		md, dev, f.Delay.Seconds()))
	return err
}

// clusteredAdd brings a removed member of the clustered RAID10 back on node n. The peers'
// writers are held from the add until the recovery runs past its first window: Debian's 6.1
// md-cluster RAID10 deadlocks the whole cluster when a peer has a write in flight as the first
// RESYNCING message arrives (README, "Known kernel limits"; scenario holdWrites). n's own
// writer goes on.
func (c *campaign) clusteredAdd(ctx context.Context, n int, md, dev string) error {
	var peers []int
	for m := 1; m <= nodes; m++ {
		if m != n && !c.gone(m) {
			peers = append(peers, m)
		}
	}
	defer c.resumeNodes(ctx, peers) // also those paused before a pause failed
	if err := c.pauseNodes(ctx, peers); err != nil {
		return err
	}
	out, err := c.step(ctx, n, slow, "re-add "+dev+" (the peers must refuse it), then wipe it and add it", fmt.Sprintf(
		`export LD_LIBRARY_PATH=/usr/lib/mdcluster/cmapshim
if mdadm /dev/%[1]s --re-add %[2]s 2>&1; then echo RE-ADDED; exit 0; fi
mdadm --zero-superblock %[2]s 2>&1 && mdadm /dev/%[1]s --add %[2]s 2>&1`, md, dev))
	if err != nil {
		return err
	}
	if strings.Contains(out, "RE-ADDED") {
		c.violation(check.Violation{Check: "writes", What: fmt.Sprintf("node%d: md took a re-add of %s into the clustered %s: the peers' agents must refuse it (their writes made meanwhile would be lost)", n, dev, md)})
	}
	return c.recoveryUnderway(ctx, n, md, peers)
}

// recoveryUnderway waits until the recovery started on node n runs past its first window (or is
// over) and every peer shows it, with no superblock write pending.
func (c *campaign) recoveryUnderway(ctx context.Context, n int, md string, peers []int) error {
	if _, err := c.step(ctx, n, quick, "recovery past its first window", fmt.Sprintf(`cd /sys/block/%s/md; first=
i=0; while [ $i -lt 500 ]; do
  c=$(cat sync_completed); a=$(cat sync_action)
  case "$c" in none) [ "$a" = idle ] && [ "$(cat degraded)" = 0 ] && exit 0 ;; *) x=${c%%%% *}; [ -z "$first" ] && first=$x; [ "$x" != "$first" ] && exit 0 ;; esac
  i=$((i+1)); sleep 0.05
done; echo "sync_completed $c, sync_action $a"; exit 1`, md)); err != nil {
		return err
	}
	for _, m := range peers {
		pmd, _ := c.mdOf(m, r10)
		if pmd == "" {
			continue
		}
		if _, err := c.step(ctx, m, quick, "the peer sees the recovery", fmt.Sprintf(`i=0; while [ $i -lt 500 ]; do
  if grep -A2 '^%[1]s ' /proc/mdstat | grep -qE '=REMOTE|\[UUU\]' && [ "$(cat /sys/block/%[1]s/md/array_state)" != write-pending ]; then exit 0; fi
  i=$((i+1)); sleep 0.05
done; cat /proc/mdstat; exit 1`, pmd)); err != nil {
			return err
		}
	}
	return nil
}

// staleFaulty looks on the other nodes for the member left bound and faulty by md-cluster's
// REMOVE race (a REMOVE message handled before the node took the failed member out of its slot
// loses the removal: fixed upstream in 2025, "md/md-cluster: handle REMOVE message earlier").
// It is the kernel's, not the campaign's to hide: it is counted and logged; the add clears it.
func (c *campaign) staleFaulty(ctx context.Context, from int, dev string) {
	name := dev[strings.LastIndexByte(dev, '/')+1:]
	for m := 1; m <= nodes; m++ {
		md, _ := c.mdOf(m, r10)
		if m == from || md == "" {
			continue
		}
		out, _ := c.quiet(ctx, m, fmt.Sprintf(`for i in $(seq 1 40); do s=$(cat /sys/block/%s/md/dev-%s/state 2>/dev/null); case "$s" in *faulty*) sleep 0.25;; *) echo "ok $s"; exit 0;; esac; done; echo "faulty $s"`, md, name))
		if strings.HasPrefix(out, "faulty") {
			c.rep.Known["md-cluster REMOVE race (kernel)"]++
			c.h.events.add(map[string]any{"t": c.obs.now(), "node": m, "known_kernel_issue": "md-cluster REMOVE race", "member": name, "state": out})
			c.logf("node%d: %s still bound and faulty 10 s after node%d added it back (md-cluster REMOVE race, kernel)", m, name, from)
		}
	}
}
