package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// The Debian guests (vmlab.Options.Debian): systemd, udev, the mdadm package and its rules,
// the project's package installed with dpkg and mdclusterd.service enabled. The scenarios on
// them drive the agent the way an administrator does: a configuration file and systemctl.

// DebianOptions is the lab of the coexistence scenarios: three Debian guests on the host's
// etcd, six small shared disks (a RAID5 on 0-2, a clustered RAID1 on 3-4, a new disk 5).
var DebianOptions = vmlab.Options{Nodes: 3, Disks: 6, DiskSize: 64 << 20, UserNet: true, Debian: true}

// byID is shared disk i's stable path in the guests (udev's link for the virtio serial).
func byID(i int) string { return fmt.Sprintf("/dev/disk/by-id/virtio-mdlab%d", i) }

func byIDs(is ...int) string {
	var s []string
	for _, i := range is {
		s = append(s, byID(i))
	}
	return strings.Join(s, " ")
}

// debianArrays is the arrays section for an exclusive RAID5 (uuid5, disks 0-2) and, when
// uuid1 is set, a clustered RAID1 (disks 3-4).
func debianArrays(uuid5, uuid1 string) string {
	s := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [%s, %s, %s]}\n", uuid5, byID(0), byID(1), byID(2))
	if uuid1 != "" {
		s += fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [%s, %s]}\n", uuid1, byID(3), byID(4))
	}
	return s
}

// DebianTTL and DebianMargin are the Debian guests' lease timing on the host's etcd: a 3 s
// watchdog (fence.WatchdogTimeout), which `systemctl restart mdclusterd` must beat under TCG.
// The fence point keeps the margin plus three timeouts before the lease expires, so a 6 s
// margin with 3 s timeouts needs a 20 s TTL (15 s would leave a 1 s watchdog).
const DebianTTL, DebianMargin = "20s", "6s"

// DebianConfig is a Debian guest's configuration on the host's etcd: the agent runs the DLM's
// control plane (for clustered arrays), with DebianTTL and DebianMargin.
func DebianConfig(node, etcdPort int, arrays string) string {
	if arrays == "" {
		arrays = "  []\n"
	}
	return vmlab.AgentConfig(node, etcdPort, DebianTTL, DebianMargin, arrays) + "dlm_control: {mode: mdclusterd}\n"
}

// writeConfig writes node's /etc/mdcluster/mdclusterd.yaml (mode 0600), checks it and syncs it
// to disk: an administrator's file is on disk long before a power cut, and the scenarios cut
// the power seconds after writing it (ext4 commits every 5 s).
func writeConfig(ctx context.Context, l *vmlab.Lab, node int, cfg string) error {
	_, err := step(ctx, l, node, quick, "write /etc/mdcluster/mdclusterd.yaml", fmt.Sprintf(`umask 077; cat > /etc/mdcluster/mdclusterd.yaml <<'EOF'
%s
EOF
mdclusterd check-config /etc/mdcluster/mdclusterd.yaml && sync /etc/mdcluster/mdclusterd.yaml`, cfg))
	return err
}

// systemctlAgent runs `systemctl <verb> mdclusterd` on node and, unless the verb stops it,
// waits until the agent answers on its API.
func systemctlAgent(ctx context.Context, l *vmlab.Lab, node int, verb string) error {
	script := "systemctl " + verb + " mdclusterd"
	if verb != "stop" {
		script += `
for i in $(seq 1 150); do mdclusterd status >/dev/null 2>&1 && exit 0; sleep 0.2; done
systemctl status mdclusterd --no-pager; exit 1`
	}
	_, err := step(ctx, l, node, slow, "systemctl "+verb+" mdclusterd", script)
	return err
}

// waitControlPlane waits until node's agent has its DLM control plane up (this boot).
func waitControlPlane(ctx context.Context, l *vmlab.Lab, node int) error {
	_, err := step(ctx, l, node, slow, "DLM control plane ready", `for i in $(seq 1 600); do
  journalctl -b -u mdclusterd -o cat | grep -q 'dlm control plane ready' && exit 0; sleep 0.2; done; exit 1`)
	return err
}

// startDebianAgents writes every node's configuration, (re)starts its agent and waits until
// the DLM control plane of each is ready.
func startDebianAgents(ctx context.Context, l *vmlab.Lab, etcdPort int, arrays string) error {
	for n := 1; n <= len(l.VMs); n++ {
		if err := writeConfig(ctx, l, n, DebianConfig(n, etcdPort, arrays)); err != nil {
			return err
		}
		if err := systemctlAgent(ctx, l, n, "restart"); err != nil {
			return err
		}
	}
	for n := 1; n <= len(l.VMs); n++ {
		if err := waitControlPlane(ctx, l, n); err != nil {
			return err
		}
	}
	return nil
}

// createDebianRAID5 creates the RAID5 on node1 (disks 0-2 by their stable paths), waits for
// its initial sync, puts an ext4 on it when mkfs is set, stops it and returns its UUID.
func createDebianRAID5(ctx context.Context, l *vmlab.Lab, mkfs bool) (string, error) {
	fs := ""
	if mkfs {
		fs = "mkfs.ext4 -q -F /dev/md/data || exit 1\n"
	}
	out, err := step(ctx, l, 1, slow, "mdadm --create RAID5 on disks 0-2, then stop it",
		`out=$(mdadm --create /dev/md/data --run --level=5 --raid-devices=3 --bitmap=internal --metadata=1.2 --name=data `+byIDs(0, 1, 2)+` 2>&1) || { echo "$out" >&2; exit 1; }
echo 1000000 > /sys/block/$(basename $(readlink -f /dev/md/data))/md/sync_speed_max
mdadm --wait /dev/md/data
`+fs+`mdadm --detail --export /dev/md/data | sed -n 's/^MD_UUID=//p'; mdadm --stop /dev/md/data >/dev/null 2>&1`)
	return strings.TrimSpace(out), err
}

// createDebianRAID1 creates the clustered RAID1 on node1 (disks 3-4, three bitmap slots)
// through the libcmap shim, as mdcadm does (node1's agent runs the DLM), waits for its sync,
// stops it and returns its UUID.
func createDebianRAID1(ctx context.Context, l *vmlab.Lab) (string, error) {
	out, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 on disks 3-4 (3 slots), then stop it",
		`out=$(`+shimEnv+`MDCLUSTER_CLUSTER_NAME=mdlab mdadm --create /dev/md/shared --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=3 --metadata=1.2 --name=shared `+byIDs(3, 4)+` 2>&1) || { echo "$out" >&2; dmesg | tail -20 >&2; exit 1; }
md=$(basename $(readlink -f /dev/md/shared)); echo 1000000 > /sys/block/$md/md/sync_speed_max
mdadm --wait /dev/md/shared; mdadm --detail --export /dev/md/shared | sed -n 's/^MD_UUID=//p'; mdadm --stop /dev/md/shared >/dev/null 2>&1`)
	return strings.TrimSpace(out), err
}

// journalCount counts the lines of node's journal (this boot) for unit that contain text.
func journalCount(ctx context.Context, l *vmlab.Lab, node int, unit, text string) (int, error) {
	out, err := step(ctx, l, node, quick, fmt.Sprintf("count %q in %s's journal", text, unit),
		fmt.Sprintf("journalctl -b -u %s -o cat | grep -c -F %q; true", unit, text))
	if err != nil {
		return 0, err
	}
	var n int
	_, err = fmt.Sscanf(out, "%d", &n)
	return n, err
}

// runningOn returns the running nodes where md runs the array now.
func runningOn(ctx context.Context, l *vmlab.Lab, uuid string) ([]int, error) {
	var on []int
	for n := 1; n <= len(l.VMs); n++ {
		if l.Node(n).Exited() {
			continue
		}
		out, err := step(ctx, l, n, quick, "is the array running here", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning")
		if err != nil {
			return nil, err
		}
		if out != "" {
			on = append(on, n)
		}
	}
	return on, nil
}

// raid5Started returns the host times after since at which node's kernel started a RAID5
// (md's console line; the console covers the guest's current boot).
func raid5Started(l *vmlab.Lab, node int, since time.Time) []time.Time {
	var at []time.Time
	for _, ln := range l.Node(node).ConsoleMatching("raid level 5 active") {
		if ln.At.After(since) {
			at = append(at, ln.At)
		}
	}
	return at
}

// DebianBootFacts prints what a booted Debian guest must show (DebianBootWant).
const DebianBootFacts = `echo "pid1 $(cat /proc/1/comm)"
echo "failed $(systemctl --failed --no-legend --plain | wc -l)"
echo "package $(dpkg-query -W -f='${Status}' mdcluster)"
echo "unit $(systemctl is-enabled mdclusterd) $(systemctl show -p ConditionResult --value mdclusterd)"
for r in 63-mdcluster 64-md-raid-assembly 69-md-clustered-confirm-device; do [ -e /lib/udev/rules.d/$r.rules ] && echo "rule $r"; done
echo "softdog $(cat /sys/class/watchdog/watchdog0/identity)"
echo "disk $(readlink /dev/disk/by-id/virtio-mdlab0)"
echo "unit warnings:$(systemd-analyze verify --man=no mdclusterd.service 2>&1 | tr '\n' ' ')"
echo "ordering cycles $(journalctl -b -o cat | grep -c 'ordering cycle')"`

// DebianBootWant is DebianBootFacts' output on a guest fresh from `make lab-debian`.
const DebianBootWant = `pid1 systemd
failed 0
package install ok installed
unit enabled no
rule 63-mdcluster
rule 64-md-raid-assembly
rule 69-md-clustered-confirm-device
softdog Software Watchdog
disk ../../vda
unit warnings:
ordering cycles 0`
