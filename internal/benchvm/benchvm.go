// Package benchvm measures mdcluster's figures on the real kernel, as ratios taken in one run
// of one lab guest (TCG timings are noisy and slow; only ratios measured side by side mean
// anything):
//
//   - resync after a crash: the bytes md resynced (read from the members, /proc/diskstats)
//     over the bytes the bitmap said were dirty before recovery (mdcadm --examine-bitmap
//     --json), against 1.0 plus one bitmap chunk per dirty region;
//   - write throughput of the same array in the same guest with the agent managing it against
//     no agent at all (O_DIRECT writes, runs interleaved, medians compared);
//   - the agent's footprint when idle: resident memory and CPU, with the lock service outside
//     (etcd on the host) and with its embedded etcd member.
package benchvm

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// Figures are one run's results.
type Figures struct {
	Resync     Resync     `json:"resync_after_crash"`
	Throughput Throughput `json:"write_throughput"`
	Footprint  []Idle     `json:"agent_footprint"`
}

// Options of a run.
type Options struct {
	Log      io.Writer
	Pairs    int           // throughput: agent/no-agent pairs (default 9)
	WriteMiB int           // throughput: MiB written per pass of a run (default 96; 4 passes)
	Idle     time.Duration // footprint: how long the agent is watched idle (default 30s)
}

const (
	quick = 30 * time.Second
	slow  = 3 * time.Minute
	ttl   = 7 * time.Second
)

// The array: an exclusive RAID1 on two of the guest's disks, 256 KiB bitmap chunks.
const (
	uuid  = "6d646661:756c7473:00000000:000000b1"
	name  = "bench"
	chunk = 256 << 10
)

var members = []string{"/dev/vda", "/dev/vdb"}

type run struct {
	o    Options
	lab  *vmlab.Lab
	port int
}

// Run boots one guest and measures the three figures.
func Run(ctx context.Context, o Options) (Figures, error) {
	if o.Pairs == 0 {
		o.Pairs = 9
	}
	if o.WriteMiB == 0 {
		o.WriteMiB = 96
	}
	if o.Idle == 0 {
		o.Idle = 30 * time.Second
	}
	var f Figures
	etcd, err := startEtcd()
	if err != nil {
		return f, err
	}
	defer etcd.close()
	lab, err := vmlab.Start(ctx, "bench", vmlab.Options{Nodes: 1, Disks: 3, DiskSize: 128 << 20, UserNet: true, Log: o.Log})
	if err != nil {
		return f, err
	}
	defer lab.Close()
	r := &run{o: o, lab: lab, port: etcd.port}
	if _, err := r.step(ctx, slow, "create the exclusive RAID1 (assume-clean), then stop it", fmt.Sprintf(
		`mdadm --create /dev/md/%[1]s --run --level=1 --raid-devices=2 --assume-clean --bitmap=internal --bitmap-chunk=%[2]dK --metadata=1.2 --name=%[1]s --uuid=%[3]s %[4]s 2>&1 && mdadm --stop /dev/md/%[1]s 2>&1; dmesg -n 7`,
		name, chunk>>10, uuid, strings.Join(members, " "))); err != nil {
		return f, err
	}
	if err := r.startAgent(ctx, false); err != nil {
		return f, err
	}
	idle, err := r.idle(ctx, "etcd on the host")
	if err != nil {
		return f, err
	}
	f.Footprint = append(f.Footprint, idle)
	if f.Throughput, err = r.throughput(ctx); err != nil {
		return f, err
	}
	if f.Resync, err = r.resync(ctx); err != nil {
		return f, err
	}
	if err := r.stopAgent(ctx); err != nil {
		return f, err
	}
	if err := r.startAgent(ctx, true); err != nil {
		return f, err
	}
	idle, err = r.idle(ctx, "embedded etcd")
	f.Footprint = append(f.Footprint, idle)
	return f, err
}

func (r *run) step(ctx context.Context, timeout time.Duration, what, script string) (string, error) {
	res, err := r.lab.Step(ctx, 1, timeout, what, script)
	return strings.TrimSpace(res.Stdout), err
}

// config is the agent's configuration: the lock service on the host, or embedded.
func (r *run) config(embedded bool) string {
	engine := fmt.Sprintf(`lock_engine: {type: etcd-external, endpoints: ["http://10.0.2.2:%d"], insecure: true}`, r.port)
	cluster := "cluster: {name: mdlab}"
	if embedded {
		engine = `lock_engine: {type: etcd-embedded, data_dir: /tmp/etcd, client_url: "http://127.0.0.1:2379", peer_url: "http://127.0.0.1:2380", insecure: true}`
		cluster = "cluster: {name: mdlab, single_node: true}"
	}
	return fmt.Sprintf(`node: {name: node1, id: 1, address: 192.168.100.1}
%s
%s
leases: {ttl: %s, watchdog: /dev/watchdog, watchdog_margin: 2s}
resync: {max_concurrent: 1}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
arrays:
  - {uuid: %s, name: %s, mode: exclusive, devices: [%s]}
`, cluster, engine, ttl, uuid, name, strings.Join(members, ", "))
}

// startAgent starts mdclusterd and waits until it runs the array.
func (r *run) startAgent(ctx context.Context, embedded bool) error {
	_, err := r.step(ctx, slow, "start mdclusterd and wait until it runs the array", fmt.Sprintf(`mkdir -p /etc/mdcluster && cat > /etc/mdcluster/mdclusterd.yaml <<'CONF'
%s
CONF
(setsid mdclusterd run --config /etc/mdcluster/mdclusterd.yaml 2>&1 </dev/null | tee -a /tmp/mdclusterd.log >/dev/console) >/dev/null 2>&1 &
for i in $(seq 1 600); do d=$(readlink -f /dev/md/%[2]s 2>/dev/null); d=${d##*/}
  case "$(cat /sys/block/$d/md/array_state 2>/dev/null)" in clean|active|active-idle) exit 0;; esac; sleep 0.2; done
tail -20 /tmp/mdclusterd.log; exit 1`, r.config(embedded), name))
	return err
}

// stopAgent stops mdclusterd cleanly (it stops the array and gives its lease back).
func (r *run) stopAgent(ctx context.Context) error {
	_, err := r.step(ctx, quick, "stop mdclusterd (SIGTERM)", `p=$(pidof mdclusterd) || exit 0; kill -TERM $p
for i in $(seq 1 250); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; exit 1`)
	return err
}

// mdDev is the md device running the array.
func (r *run) mdDev(ctx context.Context) (string, error) {
	out, err := r.step(ctx, quick, "md device of the array", fmt.Sprintf(`d=$(readlink -f /dev/md/%s) && echo ${d##*/}`, name))
	if err != nil || out == "" {
		return "", fmt.Errorf("the array does not run: %q %v", out, err)
	}
	return out, nil
}
