package faults

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// Step timeouts (vmlab's).
const quick, slow = vmlab.StepQuick, vmlab.StepSlow

// nodes is the lab's size.
const nodes = 3

// array is one of the campaign's two arrays.
type array struct {
	Tag, Name, UUID string // UUID in mdadm's form
	Devices         []string
}

// sysUUID is the array's UUID as md's sysfs writes it (the same bytes: 8-4-4-4-12).
func (a array) sysUUID() string {
	h := strings.ReplaceAll(a.UUID, ":", "")
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// The arrays: a clustered RAID10 that every node runs (md-cluster, its DLM run by the agents) and
// an exclusive RAID5 that only the holder of its activation lease runs.
var (
	r10 = array{Tag: "r10", Name: "shared", UUID: "6d646661:756c7473:00000000:00000010", Devices: []string{"/dev/vda", "/dev/vdb", "/dev/vdc"}}
	r5  = array{Tag: "r5", Name: "data", UUID: "6d646661:756c7473:00000000:00000005", Devices: []string{"/dev/vdd", "/dev/vde", "/dev/vdf"}}
)

// Each node writes regionBlocks blocks from regionOffset(node) of every array.
const regionBlocks = 512

func regionOffset(node int) int64 { return 16<<20 + int64(node-1)*(8<<20) }

// agentConfig is node's mdclusterd configuration: the lab's (vmlab.AgentConfig) with both
// arrays, the agents running the kernel DLM.
func (c *campaign) agentConfig(node int) string {
	arrays := fmt.Sprintf("  - {uuid: %s, name: %s, mode: exclusive, devices: [%s]}\n  - {uuid: %s, name: %s, mode: clustered, devices: [%s]}\n",
		r5.UUID, r5.Name, strings.Join(r5.Devices, ", "), r10.UUID, r10.Name, strings.Join(r10.Devices, ", "))
	return vmlab.AgentConfig(node, c.etcd.port, c.o.TTL.String(), c.o.Margin.String(), arrays) + "dlm_control: {mode: mdclusterd}\n"
}

// step runs a guest step that must succeed and returns its trimmed stdout.
func (c *campaign) step(ctx context.Context, node int, timeout time.Duration, what, script string) (string, error) {
	r, err := c.lab.Step(ctx, node, timeout, what, script)
	return strings.TrimSpace(r.Stdout), err
}

// startAgent writes node's configuration and starts mdclusterd; its log goes to /tmp and to the
// console, where the host stamps each line and looks for panics.
func (c *campaign) startAgent(ctx context.Context, node int) error {
	_, err := c.step(ctx, node, quick, "start mdclusterd", fmt.Sprintf(`mkdir -p /etc/mdcluster && cat > /etc/mdcluster/mdclusterd.yaml <<'CONF'
%s
CONF
n=$(cat /tmp/mdclusterd.log 2>/dev/null | wc -l)
(setsid mdclusterd run --config /etc/mdcluster/mdclusterd.yaml 2>&1 </dev/null | tee -a /tmp/mdclusterd.log >/dev/console) >/dev/null 2>&1 &
for i in $(seq 1 150); do tail -n +$((n+1)) /tmp/mdclusterd.log | grep -q 'dlm control plane ready' && exit 0; sleep 0.2; done
tail -20 /tmp/mdclusterd.log; exit 1`, c.agentConfig(node)))
	return err
}

// quiet runs a polling step without logging it; ok is false when it failed or exited non-zero.
func (c *campaign) quiet(ctx context.Context, node int, script string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := c.lab.Node(node).Run(ctx, script)
	return strings.TrimSpace(r.Stdout), err == nil && r.RC == 0
}

// agentRunning reports whether node runs mdclusterd.
func (c *campaign) agentRunning(ctx context.Context, node int) bool {
	_, ok := c.quiet(ctx, node, "pidof mdclusterd")
	return ok
}

// provision brings a freshly booted node into the campaign: kernel messages to the console, its
// agent, the clustered RAID10 assembled read-write, and a new workload.
func (c *campaign) provision(ctx context.Context, node int) error {
	if _, err := c.step(ctx, node, quick, "kernel messages to the console", "dmesg -n 7"); err != nil {
		return err
	}
	if err := c.startAgent(ctx, node); err != nil {
		return err
	}
	if err := c.assembleR10(ctx, node); err != nil {
		return err
	}
	return c.startWorkload(ctx, node)
}

// assembleR10 assembles the clustered RAID10 on node (md-cluster joins the node) read-write.
func (c *campaign) assembleR10(ctx context.Context, node int) error {
	_, err := c.step(ctx, node, slow, "assemble the clustered RAID10", fmt.Sprintf(
		`d=$(readlink -f /dev/md/%[1]s 2>/dev/null); s=$(cat /sys/block/${d##*/}/md/array_state 2>/dev/null)
case "$s" in ""|inactive|clear) mdadm --assemble /dev/md/%[1]s --uuid=%[2]s %[3]s 2>&1 || exit 1;; esac
for i in $(seq 1 40); do d=$(readlink -f /dev/md/%[1]s); d=${d##*/}; s=$(cat /sys/block/$d/md/array_state 2>/dev/null)
  [ "$s" = read-auto ] && mdadm --readwrite /dev/$d
  case "$s" in clean|active|active-idle) exit 0;; esac; sleep 0.25; done
echo "state $s"; exit 1`, r10.Name, r10.UUID, strings.Join(r10.Devices, " ")))
	return err
}

// startWorkload starts a new workload process (a new epoch) on node, in the current round.
func (c *campaign) startWorkload(ctx context.Context, node int) error {
	c.epoch[node]++
	targets := fmt.Sprintf("%s:%s:%d:%d,%s:%s:%d:%d", r10.Tag, r10.sysUUID(), regionOffset(node), regionBlocks,
		r5.Tag, r5.sysUUID(), regionOffset(node), regionBlocks)
	hold := ""
	if c.hold {
		hold = " -hold"
	}
	_, err := c.step(ctx, node, quick, fmt.Sprintf("start the workload (epoch %d)", c.epoch[node]), fmt.Sprintf(
		`echo %d > /tmp/workload.round
setsid mdlab workload -node %d -epoch %d -targets %s -interval %s%s >>/tmp/workload.log 2>&1 </dev/null &
echo $! > /tmp/workload.pid`, c.round, node, c.epoch[node], targets, c.o.WriteInterval, hold))
	return err
}

// pauseWorkloads pauses every running node's writers and waits until each says it is idle.
func (c *campaign) pauseWorkloads(ctx context.Context) error {
	return c.pauseNodes(ctx, allNodes())
}

// pauseNodes pauses the writers of those of ns still running and waits until each says it is
// idle (no write in flight).
func (c *campaign) pauseNodes(ctx context.Context, ns []int) error {
	var errs []string
	for _, n := range ns {
		if c.lab.Node(n).Exited() {
			continue
		}
		ch := c.obs.pauseChan(n)
		if _, ok := c.quiet(ctx, n, "kill -USR1 $(cat /tmp/workload.pid)"); !ok {
			errs = append(errs, fmt.Sprintf("node%d: cannot signal the workload", n))
			continue
		}
		select {
		case <-ch:
		case <-time.After(c.o.stuckWrite()):
			errs = append(errs, fmt.Sprintf("node%d: a write did not complete within %s", n, c.o.stuckWrite()))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pause: %s", strings.Join(errs, "; "))
	}
	return nil
}

// resumeWorkloads lets every running node's writers go on, in the current round.
func (c *campaign) resumeWorkloads(ctx context.Context) { c.resumeNodes(ctx, allNodes()) }

// resumeNodes lets the writers of those of ns still running go on, in the current round.
func (c *campaign) resumeNodes(ctx context.Context, ns []int) {
	for _, n := range ns {
		if !c.lab.Node(n).Exited() {
			_, _ = c.quiet(ctx, n, fmt.Sprintf("echo %d > /tmp/workload.round; kill -USR2 $(cat /tmp/workload.pid)", c.round))
		}
	}
}

// mdOf returns the md device running a on node and its state, from the node's last sample.
func (c *campaign) mdOf(node int, a array) (string, string) {
	act, _ := c.obs.active(node)
	for _, x := range act {
		if x.UUID == a.sysUUID() {
			return x.MD, x.State
		}
	}
	return "", ""
}

// holder returns the node running the exclusive array, or 0 (from the last samples).
func (c *campaign) holder() int {
	for n := 1; n <= nodes; n++ {
		if md, _ := c.mdOf(n, r5); md != "" && !c.lab.Node(n).Exited() {
			return n
		}
	}
	return 0
}

// allNodes lists the lab's nodes, 1..nodes.
func allNodes() []int {
	ns := make([]int, nodes)
	for i := range ns {
		ns[i] = i + 1
	}
	return ns
}
