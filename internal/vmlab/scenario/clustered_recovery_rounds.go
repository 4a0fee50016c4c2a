package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ClusteredRecoveryRoundsOptions: three guests (etcd on the host) and three shared disks, small
// enough that a full recovery takes seconds, not minutes, under TCG.
var ClusteredRecoveryRoundsOptions = vmlab.Options{Nodes: 3, Disks: 3, DiskSize: 96 << 20, UserNet: true}

// roundsUUID is the clustered RAID10 of ClusteredRecoveryRounds; the agents have it in their
// configuration (mode clustered) before mdadm creates it.
const roundsUUID = "726f756e:64730000:00000000:00000016"

// RecoveryBound is how long one round's recovery may take, from the mdadm --add or --re-add
// returning to md0 being whole and idle on every node (host clock). A full recovery of a
// 96 MiB member under TCG with writes going on takes well under a minute; a recovery that an
// agent froze, or one blocked in md-cluster's resync lock, never ends.
const RecoveryBound = 2 * time.Minute

// RecoveryRound is what one round did and measured.
type RecoveryRound struct {
	N    int
	Node int    // the node that ran mdadm
	Disk string // the member failed, removed and added back (vda…)
	Kind string // "add" (the member wiped first) or "re-add" (refused by every peer, then as add)
	// Took runs from the add returning to every node whole and idle (host clock).
	Took time.Duration
	// Syncs counts, per node (index node-1), md's kernel lines of the round: syncs started
	// (md holds md-cluster's resync lock by then), done, interrupted.
	Syncs [3]mdSyncLog
	// Lingered lists the nodes where the member was still bound and faulty 15 s after the
	// initiator's --fail and --remove returned (md-cluster's REMOVE race).
	Lingered []string
	// Writes counts, per node (index node-1), the writes acknowledged from the writers'
	// release to every node whole and idle: md-cluster holds a peer's writes to the region the
	// recovery's window covers.
	Writes [3]int
}

func (r RecoveryRound) String() string {
	s := fmt.Sprintf("round %d: node%d %s %s: whole on every node %.1fs after the add; md syncs started/done/interrupted",
		r.N, r.Node, r.Kind, r.Disk, r.Took.Seconds())
	for i, c := range r.Syncs {
		s += fmt.Sprintf(" node%d %s", i+1, c)
	}
	s += fmt.Sprintf("; writes acknowledged during the recovery %v", r.Writes)
	if len(r.Lingered) > 0 {
		s += "; REMOVE race: " + strings.Join(r.Lingered, ", ")
	}
	return s
}

// ClusteredRecoveryRounds is review item 16 on the real kernel: a clustered RAID10 on three
// guests whose kernel DLM mdclusterd runs (dlm_control mdclusterd), the agents configured with
// the array (mode clustered), every node writing to its own region all along (but for the
// peers' writes from each add until its recovery runs: a kernel deadlock, see holdWrites). Each round, a
// node in turn fails a member with mdadm --fail, removes it at once with --remove, then adds
// it back wiped (--zero-superblock, then --add: a full recovery); every other round it first
// tries --re-add, which every peer's agent must refuse (a re-add rebuilds the member from the
// re-adding node's bitmap only and loses the other nodes' writes made while it was out: the
// fault campaign's finding) and mdadm must fail. Every round, within RecoveryBound, md0 must be whole and idle on
// every node; no agent may freeze or start md's sync (status counters sync_frozen and
// sync_started stay 0; md's sync_action never reads "frozen" except inside mdadm's own
// --add/--re-add, which freezes around ADD_NEW_DISK); every peer's agent confirms the new disk
// exactly once; no kernel log shows a hung task or a spurious confirmation. At the end every
// node's last acknowledged write reads back on another node, and a check finds no mismatch.
// Where the member stayed bound and faulty on a peer after the initiator's --fail and
// --remove (the REMOVE race fixed upstream in 2025), the round records it and removes the
// member on that peer, as an operator would.
func ClusteredRecoveryRounds(ctx context.Context, l *vmlab.Lab, etcdPort, rounds int) ([]RecoveryRound, error) {
	nodes := []int{1, 2, 3}
	disks := []string{"vda", "vdb", "vdc"}
	if err := roundsSetup(ctx, l, etcdPort); err != nil {
		return nil, err
	}
	var out []RecoveryRound
	for i := 0; i < rounds; i++ {
		r := RecoveryRound{N: i + 1, Node: nodes[i%3], Disk: disks[(i+i/3)%3], Kind: []string{"add", "re-add"}[i%2]}
		if err := recoveryRound(ctx, l, &r); err != nil {
			var diag []string
			for _, n := range nodes {
				diag = append(diag, mdclusterDiag(ctx, l, n))
			}
			return out, fmt.Errorf("round %d (node%d %s %s): %w\n%s", r.N, r.Node, r.Kind, r.Disk, err, strings.Join(diag, "\n"))
		}
		l.Logf("FIGURE %s", r)
		out = append(out, r)
	}
	return out, roundsFinish(ctx, l)
}

// roundsSetup starts the agents (DLM control plane), creates the RAID10 on node1, lets its
// first resync finish, assembles it on node2 and node3, and starts the samplers and writers.
func roundsSetup(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	arrays := fmt.Sprintf("  - {uuid: %s, name: rounds, mode: clustered, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", roundsUUID)
	for n := 1; n <= 3; n++ {
		// A TTL of 20 s with an 8 s margin: the watchdog timeout is 4 s, room for three busy
		// TCG guests on a shared host.
		cfg := vmlab.AgentConfig(n, etcdPort, "20s", "8s", arrays) + "dlm_control: {mode: mdclusterd}\n"
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return err
		}
		// Writes go on all along: without a floor, md would slow every recovery to 1 MB/s.
		if _, err := step(ctx, l, n, quick, "md sync speed floor 50 MB/s", "echo 50000 > /proc/sys/dev/raid/speed_limit_min"); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID10 (near=2, 3 members, --nodes=3)",
		shimEnv+"mdadm --create /dev/md0 --run --level=10 --layout=n2 --raid-devices=3 --bitmap=clustered --nodes=3 "+
			"--metadata=1.2 --name=rounds --uuid="+roundsUUID+" /dev/vda /dev/vdb /dev/vdc 2>&1"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	for n := 2; n <= 3; n++ {
		if _, err := step(ctx, l, n, slow, "mdadm --assemble", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb /dev/vdc 2>&1"); err != nil {
			return err
		}
	}
	for n := 1; n <= 3; n++ {
		if err := readWrite(ctx, l, n, "md0"); err != nil {
			return err
		}
		if err := joinedSlot(ctx, l, n, n); err != nil {
			return err
		}
		if err := startSampler(ctx, l, n); err != nil {
			return err
		}
		if err := startRegionWriter(ctx, l, n); err != nil {
			return err
		}
	}
	_, err := waitSettled(ctx, l, []int{1, 2, 3}, mdWant{raidDisks: 3}, quick)
	return err
}

// recoveryRound runs one round (see ClusteredRecoveryRounds) and fills in its figures.
func recoveryRound(ctx context.Context, l *vmlab.Lab, r *RecoveryRound) error {
	peers := otherNodes(r.Node, 3)
	before, err := confirmations(ctx, l)
	if err != nil {
		return err
	}
	// Samples and kernel lines before the round are not this round's.
	var syncs [3]mdSyncLog
	for n := 1; n <= 3; n++ {
		if _, err := takeSamples(ctx, l, n); err != nil {
			return err
		}
		if syncs[n-1], err = readSyncLog(ctx, l, n); err != nil {
			return err
		}
	}
	dev := "/dev/" + r.Disk
	if _, err := step(ctx, l, r.Node, quick, fmt.Sprintf("round %d: mdadm --fail %s, then --remove at once", r.N, dev),
		fmt.Sprintf(shimEnv+"mdadm /dev/md0 --fail %[1]s 2>&1 || exit 1\n"+shimEnv+"mdadm /dev/md0 --remove %[1]s 2>&1", dev)); err != nil {
		return err
	}
	lingered, err := removedEverywhere(ctx, l, peers, r.Disk)
	if err != nil {
		return err
	}
	r.Lingered = lingered
	w, added, acked0, err := addBack(ctx, l, r, peers)
	if err != nil {
		return err
	}
	done, err := waitSettled(ctx, l, []int{1, 2, 3}, mdWant{raidDisks: 3}, RecoveryBound)
	if err != nil {
		return err
	}
	r.Took = done.Sub(added)
	acked1, err := ackedCounts(ctx, l)
	if err != nil {
		return err
	}
	for i := range acked1 {
		r.Writes[i] = acked1[i] - acked0[i]
	}
	for n := 1; n <= 3; n++ {
		samples, err := takeSamples(ctx, l, n)
		if err != nil {
			return err
		}
		var ws []window
		if n == r.Node {
			ws = []window{w}
		}
		if bad := frozenOutside(samples, ws); len(bad) > 0 {
			return fmt.Errorf("node%d: md0's sync_action read frozen outside mdadm's own --%s: %+v", n, r.Kind, bad)
		}
		c, err := readSyncLog(ctx, l, n)
		if err != nil {
			return err
		}
		r.Syncs[n-1] = c.sub(syncs[n-1])
	}
	return roundChecks(ctx, l, r, before)
}

// roundChecks checks the agents and the kernel logs after a round: nothing held back, one
// new-disk confirmation per peer, no kernel complaint.
func roundChecks(ctx context.Context, l *vmlab.Lab, r *RecoveryRound, before newDiskAnswers) error {
	after, err := confirmations(ctx, l)
	if err != nil {
		return err
	}
	for n := 1; n <= 3; n++ {
		want, wantNack := 1, 0
		if r.Kind == "re-add" {
			wantNack = 1
		}
		if n == r.Node {
			want, wantNack = 0, 0
		}
		if got := after.confirmed[n] - before.confirmed[n]; got != want {
			return fmt.Errorf("node%d's agent confirmed the new disk %d times this round, want %d", n, got, want)
		}
		if got := after.nacked[n] - before.nacked[n]; got != wantNack {
			return fmt.Errorf("node%d's agent refused (NACK) a new disk %d times this round, want %d", n, got, wantNack)
		}
		if _, err := agentNeverHeldBack(ctx, l, n, roundsUUID, true); err != nil {
			return err
		}
		bad, err := kernelComplaints(ctx, l, n)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("node%d kernel:\n%s", n, strings.Join(bad, "\n"))
		}
	}
	return nil
}

// addBack adds round r's member back on r.Node, the peers' writes held from the add until the
// recovery runs (kernel deadlock, see holdWrites); a re-add round first tries --re-add, which
// every peer's agent must refuse (it would lose their writes made while the member was out), and
// then wipes and adds it, as the refusal says. It returns the add's window on r.Node's clock,
// when mdadm returned (host clock) and the writes each node had acknowledged when the writers
// went on.
func addBack(ctx context.Context, l *vmlab.Lab, r *RecoveryRound, peers []int) (w window, added time.Time, acked [3]int, err error) {
	if err := holdWrites(ctx, l, peers, true); err != nil {
		return w, added, acked, err
	}
	defer func() {
		if err != nil {
			_ = holdWrites(ctx, l, peers, false)
		}
	}()
	dev := "/dev/" + r.Disk
	script := "mdadm --zero-superblock " + dev + " || exit 1\n" + shimEnv + "mdadm /dev/md0 --add " + dev + " 2>&1"
	if r.Kind == "re-add" {
		script = "if " + shimEnv + "mdadm /dev/md0 --re-add " + dev + " 2>&1; then echo RE-ADDED; exit 1; fi\n" + script
	}
	out, err := step(ctx, l, r.Node, slow, fmt.Sprintf("round %d: mdadm --%s %s", r.N, r.Kind, dev),
		"read u1 _ < /proc/uptime\n"+script+"\nrc=$?; read u2 _ < /proc/uptime; echo \"window $u1 $u2\"; exit $rc")
	if err != nil {
		return w, added, acked, err
	}
	if _, err := fmt.Sscanf(out[strings.LastIndex(out, "window "):], "window %f %f", &w.from, &w.to); err != nil {
		return w, added, acked, fmt.Errorf("mdadm window: %w: %q", err, out)
	}
	added = time.Now()
	if err := recoveryUnderway(ctx, l, r.Node, peers); err != nil {
		return w, added, acked, err
	}
	if acked, err = ackedCounts(ctx, l); err != nil {
		return w, added, acked, err
	}
	return w, added, acked, holdWrites(ctx, l, peers, false)
}

// otherNodes lists the nodes of a lab of size n except node.
func otherNodes(node, n int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		if i != node {
			out = append(out, i)
		}
	}
	return out
}

// roundsFinish stops the writers, reads every node's last acknowledged write on the next node,
// and runs a check on node1: no mismatch.
func roundsFinish(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 3; n++ {
		if _, err := step(ctx, l, n, quick, "stop the writer", "kill $(cat /tmp/writer.pid); sleep 0.3"); err != nil {
			return err
		}
	}
	for n := 1; n <= 3; n++ {
		out, err := step(ctx, l, n, quick, "last acknowledged write", "tail -n 1 /tmp/acked")
		if err != nil {
			return err
		}
		var i int64
		if _, err := fmt.Sscanf(out, "%d", &i); err != nil {
			return fmt.Errorf("node%d acknowledged no write (%q)", n, out)
		}
		l.Logf("node%d: %d writes acknowledged", n, i+1)
		if err := odRead(ctx, l, n%3+1, "/dev/md0", regionBase(n)+4096*(i%256), fmt.Sprintf("node%d-seq-%d", n, i)); err != nil {
			return err
		}
	}
	if err := checkClean(ctx, l, 1); err != nil {
		return err
	}
	for n := 1; n <= 3; n++ {
		if _, err := agentNeverHeldBack(ctx, l, n, roundsUUID, true); err != nil {
			return err
		}
	}
	return nil
}
