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

// AgentOptions is the lab for agent scenarios: guests with user networking (to reach the
// etcd on the host's loopback) and three shared disks.
var AgentOptions = vmlab.Options{Nodes: 2, Disks: 3, UserNet: true}

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

// createRAID5 creates a RAID5 with an internal bitmap on node1's vda vdb vdc, waits for its
// initial sync, stops it and returns its UUID.
func createRAID5(ctx context.Context, l *vmlab.Lab) (string, error) {
	out, err := step(ctx, l, 1, slow, "mdadm --create RAID5 on vda vdb vdc, then stop it",
		`mdadm --create /dev/md/data --run --level=5 --raid-devices=3 --bitmap=internal --metadata=1.2 --name=data /dev/vda /dev/vdb /dev/vdc >/dev/null 2>&1 || exit 1
mdadm --wait /dev/md/data; mdadm --detail --export /dev/md/data | sed -n 's/^MD_UUID=//p'; mdadm --stop /dev/md/data >/dev/null 2>&1`)
	return strings.TrimSpace(out), err
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
	if err := startAgent(ctx, l, 1, vmlab.AgentConfig(1, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
		return "", "", err
	}
	mdName, _, err := waitAssembled(ctx, l, 1, uuid, 60*time.Second)
	if err != nil {
		return "", "", err
	}
	if err := startAgent(ctx, l, 2, vmlab.AgentConfig(2, etcdPort, ttl.String(), margin.String(), arrays)); err != nil {
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

// signalAgent sends sig to node's agent and waits (up to wait) until it has exited; it returns
// the agent's exit status as its log's last line shows it, and when it exited (host clock).
func signalAgent(ctx context.Context, l *vmlab.Lab, node int, sig string, wait time.Duration) (time.Time, error) {
	_, err := step(ctx, l, node, wait+quick, fmt.Sprintf("kill -%s mdclusterd and wait for it to exit", sig),
		fmt.Sprintf(`p=$(pidof mdclusterd) || exit 1; kill -%s $p
for i in $(seq 1 %d); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; exit 1`, sig, int(wait/(100*time.Millisecond))))
	return time.Now(), err
}

// waitActiveOn waits until node's agent reports the array active on holder.
func waitActiveOn(ctx context.Context, l *vmlab.Lab, node int, holder string) error {
	var st api.Status
	var err error
	for i := 0; i < 100; i++ {
		if st, err = agentStatus(ctx, l, node); err != nil {
			return err
		}
		if len(st.Arrays) == 1 && st.Arrays[0].ActiveOn == holder {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node%d's agent does not report the array active on %s: %+v", node, holder, st.Arrays)
}

func hasSyncLease(st api.Status, holder string) bool {
	for _, le := range st.Leases {
		if (le.Kind == api.KindResync || le.Kind == api.KindRecovery) && le.Holder == holder {
			return true
		}
	}
	return false
}

// waitNoSyncLease waits until node's agent holds no resync or recovery lease.
func waitNoSyncLease(ctx context.Context, l *vmlab.Lab, node int) error {
	for i := 0; i < 100; i++ {
		st, err := agentStatus(ctx, l, node)
		if err != nil {
			return err
		}
		if !hasSyncLease(st, fmt.Sprintf("node%d", node)) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node%d's agent still holds a sync lease", node)
}

// mdEvents reads node's view of the cluster's event log.
func mdEvents(ctx context.Context, l *vmlab.Lab, node int) ([]api.Event, error) {
	out, err := step(ctx, l, node, quick, "mdclusterd events --json", "mdclusterd events --json")
	if err != nil {
		return nil, err
	}
	var evs []api.Event
	for _, line := range vmlab.Lines(out) {
		var e api.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("node%d events: %w: %s", node, err, line)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// findEvent returns the last event of a type (and node, if not "") or false.
func findEvent(evs []api.Event, typ, node string) (api.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ && (node == "" || evs[i].Node == node) {
			return evs[i], true
		}
	}
	return api.Event{}, false
}

// agentTally counts, from the cluster's event log, node's assemblies, resumed sessions and
// stopped arrays, and, from the presence sampler, the samples where the array was absent on
// node: "assembled=A resumed=R stopped=S absent=N".
func agentTally(ctx context.Context, l *vmlab.Lab, node int) (string, error) {
	evs, err := mdEvents(ctx, l, node)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("node%d", node)
	var assembled, resumed, stopped int
	for _, e := range evs {
		switch {
		case e.Node != name:
		case e.Type == api.EventAssembled:
			assembled++
		case e.Type == api.EventSessionOpened && e.Fields["resumed"] == "true":
			resumed++
		case e.Type == api.EventStopped:
			stopped++
		}
	}
	absent, err := step(ctx, l, node, quick, "samples without the array", "cat /tmp/presence 2>/dev/null | wc -l")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("assembled=%d resumed=%d stopped=%d absent=%s", assembled, resumed, stopped, strings.TrimSpace(absent)), nil
}
