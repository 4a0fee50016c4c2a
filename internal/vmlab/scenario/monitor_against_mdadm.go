package scenario

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// MonitorOptions is the lab of the monitor comparison: two guests, three shared disks (the
// clustered RAID1 on vda vdb, vdc to add).
var MonitorOptions = vmlab.Options{Nodes: 2, Disks: 3, UserNet: true}

// monitorUUID is the clustered array's UUID, given to mdadm so that the agents know it first.
const monitorUUID = "6d6f6e69:746f7200:00000000:00000015"

// alertPrograms installs the alert programs: each appends "$# $*" to its file (mdcadm's with the
// event's cluster id first).
const alertPrograms = `printf '#!/bin/sh\necho "$# $*" >> /tmp/alerts.mdadm\n' > /tmp/alert-mdadm
printf '#!/bin/sh\necho "$MDCLUSTER_EVENT_ID $# $*" >> /tmp/alerts.mdcadm\n' > /tmp/alert-mdcadm
chmod +x /tmp/alert-mdadm /tmp/alert-mdcadm; : > /tmp/alerts.mdadm; : > /tmp/alerts.mdcadm`

// MonitorComparison is what each monitor delivered, per node, before and after node1's crash.
type MonitorComparison struct {
	MdadmBefore, MdadmAfter [3][]string // by node: mdadm's deliveries ("argc event md component")
	Mdcadm                  []string    // mdcadm's deliveries, every node: "node id argc event md component"
}

// alerts reads a node's alert file.
func alerts(ctx context.Context, l *vmlab.Lab, node int, file string) ([]string, error) {
	out, err := step(ctx, l, node, quick, "read "+file, "cat "+file)
	if err != nil {
		return nil, err
	}
	return vmlab.Lines(out), nil
}

// rebuildNN is a RebuildNN event: its percentage is where each poller happened to look.
var rebuildNN = regexp.MustCompile(`Rebuild[0-9][0-9] `)

func normalize(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, rebuildNN.ReplaceAllString(l, "RebuildNN "))
	}
	return out
}

// dropNN removes the RebuildNN events.
func dropNN(lines []string) []string {
	return slices.DeleteFunc(normalize(lines), func(s string) bool { return strings.Contains(s, "RebuildNN ") })
}

// MonitorAgainstMdadm runs the real mdadm --monitor and mdcadm --monitor side by side on both
// nodes of a clustered RAID1, through a member's failure, a new disk's rebuild, the crash of the
// node delivering mdcadm's events, the survivor's recovery of the dead node's bitmap slot and
// another failure. mdcadm must deliver what mdadm on the delivering node delivers (same events,
// same program arguments), once where the two mdadm send it twice, and carry on from the dead
// node's cursor: nothing lost, nothing repeated.
func MonitorAgainstMdadm(ctx context.Context, l *vmlab.Lab, etcdPort int) (MonitorComparison, error) {
	var c MonitorComparison
	arrays := fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", monitorUUID)
	for n := 1; n <= 2; n++ {
		if err := startControlPlaneConfig(ctx, l, n, vmlab.AgentConfig(n, etcdPort, "10s", "2s", arrays)+"dlm_control: {mode: mdclusterd}\n"); err != nil {
			return c, err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 on vda vdb",
		shimEnv+`mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 --name=shared --uuid=`+monitorUUID+` /dev/vda /dev/vdb 2>&1`); err != nil {
		return c, err
	}
	if err := readWrite(ctx, l, 1, "md0"); err != nil {
		return c, err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return c, err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return c, err
	}
	if err := startMonitors(ctx, l); err != nil {
		return c, err
	}
	if err := failAddRebuild(ctx, l); err != nil {
		return c, err
	}
	return crashAndCarryOn(ctx, l, c)
}

// startMonitors starts mdadm's and mdcadm's monitors on both nodes, node1's mdcadm first so that
// it holds the array's delivery lease.
func startMonitors(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "alert programs", alertPrograms); err != nil {
			return err
		}
		if _, err := step(ctx, l, n, quick, "mdadm --monitor --scan --daemonise (the real one)",
			"mdadm --monitor --scan --program=/tmp/alert-mdadm --delay=2 --daemonise --pid-file=/run/mdadm-monitor.pid"); err != nil {
			return err
		}
		if _, err := step(ctx, l, n, quick, "mdcadm --monitor --scan (its messages to /tmp/mdcadm-monitor.log)",
			"(setsid mdcadm --monitor --scan --program=/tmp/alert-mdcadm --delay=2 </dev/null >/tmp/mdcadm-monitor.log 2>&1 &); sleep 0.5; pidof mdcadm"); err != nil {
			return err
		}
		if n == 1 {
			if _, err := step(ctx, l, 1, quick, "node1's mdcadm holds the delivery lease",
				`for i in $(seq 1 100); do mdclusterd events | grep -q 'lease_granted shared.*kind=monitor' && exit 0; sleep 0.2; done; exit 1`); err != nil {
				return err
			}
		}
	}
	// Both mdadm report the array they find (NewArray); mdcadm once.
	return waitAlerts(ctx, l, 2, "/tmp/alerts.mdadm", "NewArray /dev/md0")
}

// waitAlerts waits until node's alert file has a line containing what.
func waitAlerts(ctx context.Context, l *vmlab.Lab, node int, file, what string) error {
	_, err := step(ctx, l, node, slow, fmt.Sprintf("%s gets %q", file, what),
		fmt.Sprintf(`for i in $(seq 1 600); do grep -q %q %s && exit 0; sleep 0.2; done; cat %s; exit 1`, what, file, file))
	return err
}

// failAddRebuild fails vdb on node1, removes it, adds vdc (node2's agent confirms it) and waits
// for the rebuild; node2's mdadm hears of it through md-cluster.
func failAddRebuild(ctx context.Context, l *vmlab.Lab) error {
	if _, err := step(ctx, l, 1, quick, "node1: mdadm --fail vdb", shimEnv+"mdadm /dev/md0 --fail /dev/vdb 2>&1"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		if err := waitAlerts(ctx, l, n, "/tmp/alerts.mdadm", "Fail /dev/md0 /dev/vdb"); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "node1: remove vdb, add vdc slowly (node2's agent confirms it)",
		shimEnv+`echo 5000 > /sys/block/md0/md/sync_speed_max; mdadm /dev/md0 --remove /dev/vdb 2>&1 && mdadm /dev/md0 --add /dev/vdc 2>&1`); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	return waitAlerts(ctx, l, 1, "/tmp/alerts.mdadm", "SpareActive /dev/md0 /dev/vdc")
}

// crashAndCarryOn writes on node1 (dirtying its bitmap slot) and crashes it; node2's agent gets
// the delivery lease when node1's session expires, md-cluster recovers node1's slot on node2,
// and node2 fails vdc: node2's mdcadm delivers what node2's mdadm does from the crash on.
func crashAndCarryOn(ctx context.Context, l *vmlab.Lab, c MonitorComparison) (MonitorComparison, error) {
	time.Sleep(5 * time.Second) // both monitors have looked after the rebuild
	var err error
	if c.MdadmBefore[2], err = alerts(ctx, l, 2, "/tmp/alerts.mdadm"); err != nil {
		return c, err
	}
	if c.MdadmBefore[1], err = alerts(ctx, l, 1, "/tmp/alerts.mdadm"); err != nil {
		return c, err
	}
	before, err := alerts(ctx, l, 1, "/tmp/alerts.mdcadm")
	if err != nil {
		return c, err
	}
	if _, err := step(ctx, l, 1, quick, "node1 writes (its bitmap slot dirty), then crashes",
		"for i in 1 2 3 4 5 6 7 8; do mdlab odwrite /dev/md0 $((i*1048576)) node1-$i; done"); err != nil {
		return c, err
	}
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	if err := l.Node(1).Crash(cctx); err != nil {
		return c, err
	}
	l.Logf("node1 crashed")
	if _, err := step(ctx, l, 2, slow, "node2: md-cluster recovers node1's slot",
		"for i in $(seq 1 600); do dmesg | grep -q 'Initiating recovery' && exit 0; sleep 0.2; done; exit 1"); err != nil {
		return c, err
	}
	if _, err := waitSync(ctx, l, 2, "md0"); err != nil {
		return c, err
	}
	if err := fenceLogged(ctx, l); err != nil {
		return c, err
	}
	if _, err := step(ctx, l, 2, quick, "node2: mdadm --fail vdc", shimEnv+"mdadm /dev/md0 --fail /dev/vdc 2>&1"); err != nil {
		return c, err
	}
	for _, f := range []string{"/tmp/alerts.mdadm", "/tmp/alerts.mdcadm"} {
		if err := waitAlerts(ctx, l, 2, f, "Fail /dev/md0 /dev/vdc"); err != nil {
			return c, err
		}
	}
	time.Sleep(5 * time.Second)
	all2, err := alerts(ctx, l, 2, "/tmp/alerts.mdadm")
	if err != nil {
		return c, err
	}
	c.MdadmAfter[2] = all2[len(c.MdadmBefore[2]):]
	after, err := alerts(ctx, l, 2, "/tmp/alerts.mdcadm")
	if err != nil {
		return c, err
	}
	for _, s := range before {
		c.Mdcadm = append(c.Mdcadm, "node1 "+s)
	}
	for _, s := range after {
		c.Mdcadm = append(c.Mdcadm, "node2 "+s)
	}
	return c, c.check(len(before))
}

// check compares mdcadm's deliveries with mdadm's: before the crash those of node1's mdadm,
// after it those of node2's (RebuildNN percentages aside: they are where each poller looked);
// every event id once.
func (c MonitorComparison) check(before int) error {
	strip := func(lines []string) []string { // "node id argc rest" -> "argc rest"
		var out []string
		for _, s := range lines {
			f := strings.SplitN(s, " ", 3)
			if len(f) == 3 {
				out = append(out, f[2])
			}
		}
		return out
	}
	ids := map[string]bool{}
	for _, s := range c.Mdcadm {
		id := strings.Fields(s)[1]
		if ids[id] {
			return fmt.Errorf("mdcadm delivered event %s twice: %q", id, c.Mdcadm)
		}
		ids[id] = true
	}
	if got, want := dropNN(strip(c.Mdcadm[:before])), dropNN(c.MdadmBefore[1]); !slices.Equal(got, want) {
		return fmt.Errorf("before the crash mdcadm delivered %q, node1's mdadm %q", got, want)
	}
	if got, want := dropNN(strip(c.Mdcadm[before:])), dropNN(c.MdadmAfter[2]); !slices.Equal(got, want) {
		return fmt.Errorf("after the crash mdcadm delivered %q, node2's mdadm %q", got, want)
	}
	return nil
}

// fenceLogged checks that node2's control plane logged node1's fence and slot recovery.
func fenceLogged(ctx context.Context, l *vmlab.Lab) error {
	var missing string
	for i := 0; i < 40; i++ {
		evs, err := mdEvents(ctx, l, 2)
		if err != nil {
			return err
		}
		missing = ""
		var found []string
		for _, typ := range []string{"fence_started", "fence_done", "slot_recovery"} {
			e, ok := findEvent(evs, typ, "node2")
			if !ok || e.Fields["peer_id"] != "1" {
				missing = typ
				break
			}
			found = append(found, fmt.Sprintf("%d %s (%s)", e.Seq, e.Type, e.Reason))
		}
		if missing == "" {
			l.Logf("node2 logged node1's fence: %s", strings.Join(found, ", "))
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("node2's log has no %s of node1", missing)
}
