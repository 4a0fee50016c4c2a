package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ClusterScrapeOptions is the lab ClusterScrape needs: two guests with user networking (etcd on
// the host) and two small shared disks, so a speed-limited resync runs for about half a minute.
var ClusterScrapeOptions = vmlab.Options{Nodes: 2, Disks: 2, DiskSize: 64 << 20, UserNet: true}

// clusterScrapeUUID is the md-cluster array of ClusterScrape; the agents know it before mdadm
// creates it, and its DLM lockspace is named after it.
const clusterScrapeUUID = "5c4a9e00:6d657472:69637300:00000001"

// clusterLockspace is md-cluster's lockspace name for an mdadm-form UUID (the UUID's bytes as
// %pU prints them).
func clusterLockspace(uuid string) string {
	h := strings.ReplaceAll(uuid, ":", "")
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// clusterScrapeScript reads what the kernel says (md sysfs, the DLM's configfs and sysfs) just
// before and just after a scrape of the agent's /metrics, then the on-disk bitmap through mdadm
// and the slot md-cluster gave this node.
func clusterScrapeScript(ls string) string {
	return fmt.Sprintf(`S=/sys/block/md0/md; C=/sys/kernel/config/dlm/cluster; LS=%s
attrs() { for a in sync_action sync_completed array_state degraded; do printf '%%s=%%s\n' "$a" "$(cat $S/$a 2>/dev/null)"; done
  printf 'ls_members=%%s\n' "$(ls $C/spaces/$LS/nodes 2>/dev/null | wc -l)"
  printf 'comms=%%s\n' "$(ls $C/comms | wc -l)"
  printf 'recover_status=%%s\n' "$(cat /sys/kernel/dlm/$LS/recover_status 2>/dev/null)"; }
echo '--- before'; attrs
echo '--- metrics'; wget -q -O - http://127.0.0.1:9810/metrics || exit 1
echo '--- after'; attrs
echo '--- examine'; sync; echo 3 > /proc/sys/vm/drop_caches; mdadm --examine-bitmap /dev/vda 2>&1
echo '--- mdstat'; cat /proc/mdstat
echo '--- slot'; dmesg | sed -n 's/.*md-cluster: Joined cluster .* slot //p' | tail -1`, ls)
}

// ClusterScrape runs md-cluster RAID1 on two guests whose agents run the kernel DLM and serve
// /metrics, and compares each node's scrape with what that node's kernel reports at the same
// moment: during a speed-limited resync (sync action and progress, who holds the resync lease,
// the DLM lockspace and its members, md-cluster's slot of the node, the bitmap's node count,
// live members), then on the survivor after node2 crashed with dirty bits in its slot and was
// fenced and recovered (members, lockspace members, and every slot's dirty chunks and events
// against mdadm --examine-bitmap of the same member).
func ClusterScrape(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const ttl, margin = 8 * time.Second, 3 * time.Second
	arrays := fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [/dev/vda, /dev/vdb]}\n", clusterScrapeUUID)
	for n := 1; n <= 2; n++ {
		cfg := vmlab.AgentConfig(n, etcdPort, ttl.String(), margin.String(), arrays) + "dlm_control: {mode: mdclusterd}\n"
		cfg = strings.Replace(cfg, `metrics: ""`, `metrics: "127.0.0.1:9810"`, 1)
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return err
		}
		if _, err := step(ctx, l, n, quick, "limit resync speed to 1-2 MiB/s",
			"echo 1000 > /proc/sys/dev/raid/speed_limit_min && echo 2000 > /proc/sys/dev/raid/speed_limit_max"); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1, 1 MiB bitmap chunks",
		shimEnv+"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --bitmap-chunk=1M --nodes=2 "+
			"--metadata=1.2 --name=shared --uuid="+clusterScrapeUUID+" /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "wait for node1's resync (under its agent's lease) to pass 4 MiB", `S=/sys/block/md0/md
for i in $(seq 1 300); do set -- $(cat $S/sync_completed); [ "$1" != none ] && [ "$1" -gt 8192 ] && exit 0; sleep 0.1; done
cat $S/sync_action $S/sync_completed; exit 1`); err != nil {
		return err
	}
	ls := clusterLockspace(clusterScrapeUUID)
	if err := waitRemoteResync(ctx, l); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if err := scrapeClusterNode(ctx, l, n, ls, 2, true); err != nil {
			return err
		}
	}
	if err := captureDLMTree(ctx, l, "two-nodes"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "lift the resync speed limit", "echo 200000 > /proc/sys/dev/raid/speed_limit_max"); err != nil {
			return err
		}
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	crashed, err := writeBothThenCrash2Small(ctx, l)
	if err != nil {
		return err
	}
	if _, err := waitRecovery(ctx, l, 1, 2, 2, crashed, ttl, margin); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if err := waitClean(ctx, l, 1, "/dev/vda", 1); err != nil {
		return err
	}
	if err := scrapeClusterNode(ctx, l, 1, ls, 1, false); err != nil {
		return err
	}
	return captureDLMTree(ctx, l, "after-crash")
}

// dlmTreeScript prints the DLM files the metrics collector reads, one "path<TAB>content" line
// each: configfs below config/, /sys/kernel/dlm below sys/.
const dlmTreeScript = `cd /sys/kernel/config/dlm/cluster || exit 1
for f in cluster_name spaces/*/nodes/*/nodeid spaces/*/nodes/*/weight; do [ -f "$f" ] && printf 'config/%s\t%s\n' "$f" "$(cat "$f")"; done
cd /sys/kernel/dlm || exit 1
for f in */id */recover_status */recover_nodeid; do [ -f "$f" ] && printf 'sys/%s\t%s\n' "$f" "$(cat "$f")"; done`

// captureDLMTree saves node1's DLM tree as metrics/testdata/dlm-<name>.tree when
// MDCLUSTER_CAPTURE names the module root (the DLM collector's tests read it).
func captureDLMTree(ctx context.Context, l *vmlab.Lab, name string) error {
	root := os.Getenv("MDCLUSTER_CAPTURE")
	if root == "" {
		return nil
	}
	out, err := step(ctx, l, 1, quick, "capture node1's DLM configfs and sysfs ("+name+")", dlmTreeScript)
	if err != nil {
		return err
	}
	path := filepath.Join(root, "metrics", "testdata", "dlm-"+name+".tree")
	l.Logf("captured %s", path)
	return os.WriteFile(path, []byte(out+"\n"), 0o644)
}

// waitRemoteResync waits (bounded) for md-cluster on node2 to show node1's resync in
// /proc/mdstat as "resync=REMOTE" (after node1's first RESYNCING message), a line procfs alone
// cannot parse. With MDCLUSTER_CAPTURE set it saves that mdstat for the md package's tests.
func waitRemoteResync(ctx context.Context, l *vmlab.Lab) error {
	out, err := step(ctx, l, 2, quick, "node2: wait for resync=REMOTE in /proc/mdstat",
		"for i in $(seq 1 120); do grep -q 'resync=REMOTE' /proc/mdstat && break; sleep 0.25; done; cat /proc/mdstat")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "resync=REMOTE") {
		l.Logf("node2's mdstat never showed resync=REMOTE within 30 s:\n%s", out)
		return nil
	}
	root := os.Getenv("MDCLUSTER_CAPTURE")
	if root == "" {
		return nil
	}
	path := filepath.Join(root, "mdcluster", "md", "testdata", "mdstat", "cluster-remote.txtar")
	l.Logf("captured %s", path)
	return os.WriteFile(path, []byte("-- proc/mdstat --\n"+out+"\n"), 0o644)
}

// writeBothThenCrash2Small dirties bitmap chunks in both slots (O_DIRECT writes from each node,
// each read back on the other) and crashes node2 right after its last write.
func writeBothThenCrash2Small(ctx context.Context, l *vmlab.Lab) (time.Time, error) {
	for _, w := range []struct {
		node int
		off  int64
		text string
	}{{1, 0, "from-node1"}, {2, 20 << 20, "from-node2"}, {2, 40 << 20, "node2-last-write"}} {
		if err := odWrite(ctx, l, w.node, "/dev/md0", w.off, w.text); err != nil {
			return time.Time{}, err
		}
		if err := odRead(ctx, l, 3-w.node, "/dev/md0", w.off, w.text); err != nil {
			return time.Time{}, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(2).Crash(cctx); err != nil {
		return crashed, err
	}
	l.Logf("node2: crashed (sysrq c) with dirty bits in its slot")
	return crashed, nil
}

// scrapeClusterNode scrapes node's agent and checks it against the kernel. members is the
// number of live nodes expected. With resync, the scrape must catch md0 resyncing on some node;
// without, the bitmap figures must match mdadm's, so it scrapes until the agent's bitmap reading
// is younger than the clean state mdadm saw (the agent caches bitmap reads).
func scrapeClusterNode(ctx context.Context, l *vmlab.Lab, node int, ls string, members int, resync bool) error {
	var s *scrape
	var err error
	start := time.Now()
	for try := 0; ; try++ {
		if try == 30 {
			return fmt.Errorf("node%d: no consistent scrape in %d tries: %v", node, try, err)
		}
		if try > 0 {
			time.Sleep(2 * time.Second)
		}
		if s, err = takeScrapeOn(ctx, l, node, "cluster", clusterScrapeScript(ls)); err != nil {
			return err
		}
		if err = s.stable("sync_action", "ls_members", "comms", "recover_status"); err != nil {
			continue
		}
		if !resync {
			// The agent's reading must postdate this loop's start, by when mdadm saw slot 2 clean.
			age, aerr := s.value("mdcluster_md_bitmap_read_age_seconds", "device", "md0")
			if aerr != nil {
				return aerr
			}
			if age > time.Since(start).Seconds()-1 {
				err = fmt.Errorf("the agent's bitmap reading is %.0fs old", age)
				continue
			}
		}
		break
	}
	if err := checkClusterScrape(l, node, s, ls, members, resync); err != nil {
		return fmt.Errorf("node%d: %w", node, err)
	}
	return nil
}

// checkClusterScrape compares one scrape with the kernel's figures around it.
func checkClusterScrape(l *vmlab.Lab, node int, s *scrape, ls string, members int, resync bool) error {
	action := s.before["sync_action"]
	lsMembers, _ := strconv.ParseFloat(s.before["ls_members"], 64)
	comms, _ := strconv.ParseFloat(s.before["comms"], 64)
	recov, err := strconv.ParseUint(s.before["recover_status"], 16, 64)
	if err != nil {
		return fmt.Errorf("recover_status %q: %w", s.before["recover_status"], err)
	}
	slot, err := strconv.Atoi(strings.TrimSpace(s.sections["slot"]))
	if err != nil {
		return fmt.Errorf("md-cluster join message: slot %q: %w", s.sections["slot"], err)
	}
	examined, err := readExamineBitmap(s.examine)
	if err != nil {
		return err
	}
	clusterNodes, err := examined.field("Cluster nodes")
	if err != nil {
		return err
	}
	if int(lsMembers) != members || int(comms) != members {
		return fmt.Errorf("the kernel shows %g lockspace members and %g comms nodes, want %d", lsMembers, comms, members)
	}
	checks := []sampleCheck{
		{1, "mdcluster_session_valid", nil},
		{float64(members), "mdcluster_cluster_members", nil},
		{1, "mdcluster_dlm_cluster_info", []string{"cluster", "mdlab"}},
		{1, "mdcluster_dlm_lockspace_info", []string{"lockspace", ls}},
		{lsMembers, "mdcluster_dlm_lockspace_members", []string{"lockspace", ls}},
		{float64(recov), "mdcluster_dlm_lockspace_recover_status", []string{"lockspace", ls}},
		{1, "mdcluster_md_sync_action", []string{"device", "md0", "action", action}},
		{float64(slot - 1), "mdcluster_md_cluster_local_slot", []string{"device", "md0"}},
		{clusterNodes, "mdcluster_md_cluster_nodes", []string{"device", "md0", "cluster", "mdlab"}},
		{1, "mdcluster_md_bitmap_read_success", []string{"device", "md0"}},
	}
	for n := 1; n <= members; n++ {
		checks = append(checks, sampleCheck{1, "mdcluster_dlm_lockspace_member_info", []string{"lockspace", ls, "nodeid", strconv.Itoa(n)}})
	}
	if err := s.expectAll(checks); err != nil {
		return err
	}
	if resync {
		return checkResyncScrape(l, node, s, action)
	}
	slots, err := examined.clusterSlots()
	if err != nil {
		return err
	}
	for i, sl := range slots {
		for _, c := range []struct {
			want float64
			name string
		}{{sl.dirty, "mdcluster_md_bitmap_slot_dirty_chunks"}, {sl.events, "mdcluster_md_bitmap_slot_events"}, {sl.chunks, "mdcluster_md_bitmap_slot_chunks"}} {
			if err := s.expectValue(c.want, c.name, "device", "md0", "slot", strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	l.Logf("node%d after node2's crash: members %d, lockspace members %g, slots (dirty/events) %v: the scrape agrees", node, members, lsMembers, slots)
	return nil
}

// checkResyncScrape checks the sync figures of a scrape taken during the resync: the node whose
// md resyncs holds the resync lease, and its progress lies between the kernel's readings.
func checkResyncScrape(l *vmlab.Lab, node int, s *scrape, action string) error {
	holder := ""
	if action == "resync" {
		holder = fmt.Sprintf("node%d", node)
		lo, ok1 := progress(s.before["sync_completed"])
		hi, ok2 := progress(s.after["sync_completed"])
		if !ok1 || !ok2 {
			return fmt.Errorf("sync_completed %q, %q: not a running sync", s.before["sync_completed"], s.after["sync_completed"])
		}
		got, err := s.value("mdcluster_md_sync_completed_ratio", "device", "md0")
		if err != nil {
			return err
		}
		if got < lo || got > hi {
			return fmt.Errorf("mdcluster_md_sync_completed_ratio %g outside the kernel's [%g, %g]", got, lo, hi)
		}
		l.Logf("node%d during the resync: exporter %.4f done, kernel %.4f…%.4f", node, got, lo, hi)
	} else {
		holder = "node1"
		// md-cluster shows another node's resync as "resync=REMOTE", which procfs alone cannot
		// parse: the md figures must still be there (checked above) and say resyncing.
		l.Logf("node%d /proc/mdstat during node1's resync:\n%s", node, s.sections["mdstat"])
		if strings.Contains(s.sections["mdstat"], "resync=REMOTE") {
			if err := s.expectValue(1, "node_md_state", "device", "md0", "state", "resync"); err != nil {
				return err
			}
		}
	}
	// md-cluster's own resync lock orders the resync: the agents hold no lease around it and
	// never hold it back; every node's scrape shows who runs it, not waiting.
	if err := s.expectValue(0, "mdcluster_resync_waiting", "array", "shared", "node", holder, "action", "resync"); err != nil {
		return err
	}
	if err := s.expectAbsent("mdcluster_lease_info", "array", "shared", "kind", "resync"); err != nil {
		return err
	}
	l.Logf("node%d during the resync: md sync_action %s, resync run by %s and not held back: the scrape agrees", node, action, holder)
	return nil
}
