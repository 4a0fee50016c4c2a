package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// AgentOptions is the lab for agent scenarios: guests with user networking (to reach the
// etcd on the host's loopback) and three shared disks.
var AgentOptions = vmlab.Options{Nodes: 2, Disks: 3, UserNet: true}

// AgentConfig is the mdclusterd configuration of one lab node using an external etcd on the
// host, reached at 10.0.2.2:etcdPort through QEMU user networking.
func AgentConfig(node, etcdPort int, ttl, margin string, arrays string) string {
	return fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine:
  type: etcd-external
  endpoints: ["http://10.0.2.2:%[2]d"]
  insecure: true
leases: {ttl: %[3]s, watchdog: /dev/watchdog, watchdog_margin: %[4]s}
resync: {max_concurrent: 1}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
arrays:
%[5]s`, node, etcdPort, ttl, margin, arrays)
}

// startAgent writes the node's configuration and starts mdclusterd in the background; its log
// goes to /tmp/mdclusterd.log in the guest.
func startAgent(ctx context.Context, l *vmlab.Lab, node int, cfg string) error {
	script := fmt.Sprintf(`mkdir -p /etc/mdcluster && cat > /etc/mdcluster/mdclusterd.yaml <<'EOF'
%s
EOF
mdclusterd check-config /etc/mdcluster/mdclusterd.yaml || exit 1
# The agent's log goes to a file and to the serial console, where the host stamps each line.
(setsid mdclusterd run --config /etc/mdcluster/mdclusterd.yaml 2>&1 </dev/null | tee -a /tmp/mdclusterd.log >/dev/console) >/dev/null 2>&1 &
for i in $(seq 1 100); do mdclusterd status >/dev/null 2>&1 && exit 0; sleep 0.2; done
cat /tmp/mdclusterd.log; exit 1`, cfg)
	_, err := step(ctx, l, node, quick, "start mdclusterd", script)
	return err
}

// agentStatus reads the node's agent status through its local API.
func agentStatus(ctx context.Context, l *vmlab.Lab, node int) (api.Status, error) {
	var st api.Status
	out, err := step(ctx, l, node, quick, "mdclusterd status", "mdclusterd status")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("node%d status: %w: %s", node, err, out)
	}
	return st, nil
}

// mdWithUUID is a guest script printing the md device that runs the array with this mdadm-form
// UUID, or nothing.
func mdWithUUID(uuid string) string {
	return fmt.Sprintf(`for d in /sys/block/md*/md; do [ -e "$d/array_state" ] || continue
  n=${d%%/md}; n=${n##*/}
  mdadm --detail --export /dev/$n 2>/dev/null | grep -qx 'MD_UUID=%s' && [ "$(cat $d/array_state)" != inactive ] && echo $n
done; true`, uuid)
}

// waitAssembled polls node until md runs the array, returning the md name and when it was seen.
func waitAssembled(ctx context.Context, l *vmlab.Lab, node int, uuid string, within time.Duration) (string, time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, quick)
		r, err := l.Node(node).Run(cctx, mdWithUUID(uuid))
		cancel()
		if err != nil {
			return "", time.Time{}, err
		}
		if n := strings.TrimSpace(r.Stdout); n != "" {
			return n, time.Now(), nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", time.Time{}, fmt.Errorf("node%d: array %s not assembled within %s", node, uuid, within)
}

// ExclusiveFailover is the exclusive-activation scenario with a RAID5: node1's agent holds the
// activation lease and assembles the array; node2's agent refuses it (and stops a copy an
// operator assembles by hand); node1 crashes and node2 assembles the array within the TTL plus
// a few seconds, and reads what node1 wrote. It returns the failover time (crash to assembled).
func ExclusiveFailover(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl time.Duration) (time.Duration, error) {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return 0, err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	margin := ttl * 3 / 8 // at 8s, a 3s margin with a 1s watchdog timeout (fence.WatchdogTimeout)
	for n := 1; n <= 2; n++ {
		if err := startAgent(ctx, l, n, AgentConfig(n, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
			return 0, err
		}
		if n == 1 {
			mdName, _, err := waitAssembled(ctx, l, 1, uuid, 60*time.Second)
			if err != nil {
				return 0, err
			}
			l.Logf("node1: agent assembled the RAID5 as %s", mdName)
			if err := odWrite(ctx, l, 1, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
				return 0, err
			}
		}
	}
	// node2 must see the array active on node1 and keep it stopped.
	var st api.Status
	for i := 0; i < 50; i++ {
		if st, err = agentStatus(ctx, l, 2); err != nil {
			return 0, err
		}
		if len(st.Arrays) == 1 && st.Arrays[0].ActiveOn == "node1" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(st.Arrays) != 1 || st.Arrays[0].ActiveOn != "node1" || st.Arrays[0].Device != "" {
		return 0, fmt.Errorf("node2's agent should report the array active on node1 and not run it: %+v", st.Arrays)
	}
	l.Logf("node2: agent reports the array active on %s", st.Arrays[0].ActiveOn)
	// An operator assembles it on node2 by hand anyway: the agent must stop that copy.
	if _, err := step(ctx, l, 2, slow, "operator runs mdadm --assemble on node2 by hand",
		"mdadm --assemble /dev/md/data --run /dev/vda /dev/vdb /dev/vdc 2>&1; true"); err != nil {
		return 0, err
	}
	if err := waitStoppedUnleased(ctx, l, 2, uuid); err != nil {
		return 0, err
	}
	crashCtx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	crashed := time.Now()
	if err := l.Node(1).Crash(crashCtx); err != nil {
		return 0, err
	}
	l.Logf("node1: crashed (sysrq c) holding the activation lease (TTL %s)", ttl)
	mdName, at, err := waitAssembled(ctx, l, 2, uuid, ttl+60*time.Second)
	if err != nil {
		return 0, err
	}
	failover := at.Sub(crashed)
	l.Logf("node2: assembled the RAID5 as %s %.1fs after node1's crash (TTL %s)", mdName, failover.Seconds(), ttl)
	if err := odRead(ctx, l, 2, "/dev/"+mdName, 1<<20, "written-by-node1"); err != nil {
		return 0, err
	}
	return failover, nil
}

// createRAID5 creates a RAID5 with an internal bitmap on node1's vda vdb vdc, waits for its
// initial sync, stops it and returns its UUID.
func createRAID5(ctx context.Context, l *vmlab.Lab) (string, error) {
	out, err := step(ctx, l, 1, slow, "mdadm --create RAID5 on vda vdb vdc, then stop it",
		`mdadm --create /dev/md/data --run --level=5 --raid-devices=3 --bitmap=internal --metadata=1.2 --name=data /dev/vda /dev/vdb /dev/vdc >/dev/null 2>&1 || exit 1
mdadm --wait /dev/md/data; mdadm --detail --export /dev/md/data | sed -n 's/^MD_UUID=//p'; mdadm --stop /dev/md/data >/dev/null 2>&1`)
	return strings.TrimSpace(out), err
}

// NewDiskConfirm runs md-cluster RAID1 on two guests with agents in clustered mode that also
// run the kernel DLM (dlm_control mdclusterd): a disk added on node1 is confirmed on node2 by
// node2's agent (ADD_NEW_DISK with MD_DISK_CANDIDATE for the local device carrying that device
// UUID), so both kernels take it.
func NewDiskConfirm(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	const uuid = "4e657744:69736b43:6f6e6669:726d0001" // given to mdadm: the agents know it first
	arrays := fmt.Sprintf("  - {uuid: %s, name: shared, mode: clustered, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	for n := 1; n <= 2; n++ {
		cfg := AgentConfig(n, etcdPort, "10s", "2s", arrays) + "dlm_control: {mode: mdclusterd}\n"
		if err := startControlPlaneConfig(ctx, l, n, cfg); err != nil {
			return err
		}
	}
	if _, err := step(ctx, l, 1, slow, "mdadm --create clustered RAID1 on vda vdb",
		shimEnv+`mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --metadata=1.2 --name=shared --uuid=`+uuid+` /dev/vda /dev/vdb 2>&1`); err != nil {
		return err
	}
	if err := readWrite(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := waitSync(ctx, l, 1, "md0"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 2, slow, "mdadm --assemble on node2", "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	// Arrays the agent does not assemble start as md starts them (it leaves md_mod's start_ro
	// alone): read-write, as a node must be to confirm a new disk.
	if _, err := step(ctx, l, 2, quick, "md0 runs read-write on node2",
		`[ "$(cat /sys/block/md0/md/array_state)" != read-auto ] || { cat /sys/block/md0/md/array_state; exit 1; }`); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "node1: mdadm --add vdc (md-cluster asks every node to confirm)",
		shimEnv+"mdadm --manage /dev/md0 --add /dev/vdc 2>&1"); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	ln, err := l.Node(2).WaitConsole(wctx, "confirmed new disk")
	if err != nil {
		return err
	}
	l.Logf("node2 agent: %s", ln.Text)
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "vdc is a member of md0",
			"for i in $(seq 1 40); do [ -d /sys/block/md0/md/dev-vdc ] && exit 0; sleep 0.25; done; ls /sys/block/md0/md; exit 1"); err != nil {
			return err
		}
	}
	return nil
}

// exclusivePair creates an exclusive RAID5 on the shared disks, starts node1's agent and waits
// until it assembled the array, then starts node2's agent (which queues for the lease). It
// returns the array's UUID and its md name on node1.
func exclusivePair(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration) (string, string, error) {
	uuid, err := createRAID5(ctx, l)
	if err != nil {
		return "", "", err
	}
	arrays := fmt.Sprintf("  - {uuid: %s, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n", uuid)
	if err := startAgent(ctx, l, 1, AgentConfig(1, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
		return "", "", err
	}
	mdName, _, err := waitAssembled(ctx, l, 1, uuid, 60*time.Second)
	if err != nil {
		return "", "", err
	}
	if err := startAgent(ctx, l, 2, AgentConfig(2, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
		return "", "", err
	}
	if err := waitActiveOn(ctx, l, 2, "node1"); err != nil {
		return "", "", err
	}
	for n := 1; n <= 2; n++ {
		// md's own messages (array started, stopped) on the console, stamped by the host.
		if _, err := step(ctx, l, n, quick, "md's info messages to the console", "dmesg -n 7"); err != nil {
			return "", "", err
		}
	}
	return uuid, mdName, nil
}

// mdStarted and mdStopped are md's console lines for an array that starts (RAID5) and stops.
func mdStarted(md string) string { return "md/raid:" + md + ": raid level 5 active" }
func mdStopped(md string) string { return "md: " + md + " stopped." }

// writeLoop starts O_DIRECT writes of numbered 4 KiB blocks to dev on node in the background;
// every acknowledged write appends its number to /tmp/acked. With hold, a shell also keeps dev
// open for good (as a mounted filesystem would), so md refuses to stop the array.
func writeLoop(ctx context.Context, l *vmlab.Lab, node int, dev string, hold bool) error {
	script := fmt.Sprintf(`: > /tmp/acked
(i=0; while true; do mdlab odwrite %[1]s $((4096*(i%%1024))) node%[2]d-seq-$i 2>/dev/null && echo $i >> /tmp/acked; i=$((i+1)); sleep 0.05; done) >/dev/null 2>&1 &`, dev, node)
	if hold {
		script += fmt.Sprintf("\n(exec 3<>%s; while true; do sleep 1; done) >/dev/null 2>&1 &", dev)
	}
	_, err := step(ctx, l, node, quick, "write to "+dev+" in the background", script)
	return err
}

// lastAcked returns the last write node acknowledged, and where it went.
func lastAcked(ctx context.Context, l *vmlab.Lab, node int) (int64, string, error) {
	out, err := step(ctx, l, node, quick, "last acknowledged write", "tail -n 1 /tmp/acked")
	if err != nil {
		return 0, "", err
	}
	i, err := strconv.Atoi(out)
	if err != nil {
		return 0, "", fmt.Errorf("node%d: no acknowledged write (%q)", node, out)
	}
	return int64(4096 * (i % 1024)), fmt.Sprintf("node%d-seq-%d", node, i), nil
}

// signalAgent sends sig to node's agent and waits (up to wait) until it has exited; it returns
// the agent's exit status as its log's last line shows it, and when it exited (host clock).
func signalAgent(ctx context.Context, l *vmlab.Lab, node int, sig string, wait time.Duration) (time.Time, error) {
	_, err := step(ctx, l, node, wait+quick, fmt.Sprintf("kill -%s mdclusterd and wait for it to exit", sig),
		fmt.Sprintf(`p=$(pidof mdclusterd) || exit 1; kill -%s $p
for i in $(seq 1 %d); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; exit 1`, sig, int(wait/(100*time.Millisecond))))
	return time.Now(), err
}

// waitStoppedUnleased waits until node's agent has stopped a copy of the array that ran there
// without the lease, as its status shows (the array's problem names the holder, the counter of
// such stops moved) and md confirms (the array is gone).
func waitStoppedUnleased(ctx context.Context, l *vmlab.Lab, node int, uuid string) error {
	for i := 0; i < 120; i++ {
		st, err := agentStatus(ctx, l, node)
		if err != nil {
			return err
		}
		if st.Actions["stop_unleased"] > 0 {
			on, err := step(ctx, l, node, quick, "the copy is gone", "running() {\n"+mdWithUUID(uuid)+"\n}\nrunning")
			if err != nil || on != "" {
				return fmt.Errorf("node%d's agent says it stopped the copy, md still runs it as %q (%v)", node, on, err)
			}
			l.Logf("node%d's agent stopped the unleased copy (%d such stops)", node, st.Actions["stop_unleased"])
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("node%d's agent never stopped the unleased copy", node)
}
