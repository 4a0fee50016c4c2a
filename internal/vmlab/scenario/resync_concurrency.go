package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// syncSample is one look at an array's sync_action on a node, on the host's clock.
type syncSample struct {
	at      time.Time
	syncing bool
}

// ResyncConcurrency gives node1 and node2 one RAID1 each that both need a resync, with a
// cluster-wide limit of one resync at a time. It samples sync_action on both nodes until both
// arrays are in sync and checks the two resync periods never overlap on the host's clock.
func ResyncConcurrency(ctx context.Context, l *vmlab.Lab, etcdPort int) error {
	uuids, err := frozenPair(ctx, l)
	if err != nil {
		return err
	}
	if err := startSlowAgents(ctx, l, etcdPort, uuids); err != nil {
		return err
	}
	samples, err := sampleResyncs(ctx, l, uuids)
	if err != nil {
		return err
	}
	return resyncsApart(l, samples)
}

// frozenPair creates two RAID1s on node1 and stops them mid-resync, so both need a resync, and
// returns their UUIDs.
func frozenPair(ctx context.Context, l *vmlab.Lab) ([]string, error) {
	out, err := step(ctx, l, 1, slow, "create two RAID1s, stop them mid-resync (both need a resync)",
		`set -e
for p in "data1 /dev/vda /dev/vdb" "data2 /dev/vdc /dev/vdd"; do
  set -- $p
  mdadm --create /dev/md/$1 --run --level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 --name=$1 $2 $3 >/dev/null 2>&1
  n=$(basename $(readlink -f /dev/md/$1)); echo frozen > /sys/block/$n/md/sync_action
  mdadm --detail --export /dev/md/$1 | sed -n 's/^MD_UUID=//p'
  mdadm --stop /dev/md/$1 >/dev/null 2>&1
done`)
	if err != nil {
		return nil, err
	}
	uuids := vmlab.Lines(out)
	if len(uuids) != 2 {
		return nil, fmt.Errorf("want two array UUIDs, got %q", out)
	}
	return uuids, nil
}

// startSlowAgents limits md's resync speed on both nodes and starts each node's agent with one of
// the arrays.
func startSlowAgents(ctx context.Context, l *vmlab.Lab, etcdPort int, uuids []string) error {
	devs := [][]string{{"/dev/vda", "/dev/vdb"}, {"/dev/vdc", "/dev/vdd"}}
	for n := 1; n <= 2; n++ {
		// Slow resyncs (10 MB/s) so that two running at once could not go unnoticed.
		if _, err := step(ctx, l, n, quick, "limit md resync speed to 10 MB/s", "echo 10000 > /proc/sys/dev/raid/speed_limit_max"); err != nil {
			return err
		}
		arrays := fmt.Sprintf("  - {uuid: %s, name: data%d, mode: exclusive, devices: [%s, %s]}\n", uuids[n-1], n, devs[n-1][0], devs[n-1][1])
		if err := startAgent(ctx, l, n, vmlab.AgentConfig(n, etcdPort, "10s", "2s", arrays)); err != nil {
			return err
		}
	}
	return nil
}

// sampleResyncs samples both arrays' sync action until both are in sync (or 4 minutes pass) and
// requires a status, once, that shows one resync running and the other held back.
func sampleResyncs(ctx context.Context, l *vmlab.Lab, uuids []string) (map[int][]syncSample, error) {
	samples := map[int][]syncSample{}
	sawState := false
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		done := 0
		for n := 1; n <= 2; n++ {
			cctx, cancel := context.WithTimeout(ctx, quick)
			r, err := l.Node(n).Run(cctx, fmt.Sprintf("running() {\n%s\n}\n", mdWithUUID(uuids[n-1]))+
				`m=$(running); [ -n "$m" ] || { echo absent; exit 0; }
echo "$(cat /sys/block/$m/md/sync_action) $(cat /sys/block/$m/md/resync_start)"`)
			cancel()
			if err != nil {
				return nil, err
			}
			f := strings.Fields(r.Stdout)
			if len(f) == 2 && f[0] == "idle" && f[1] == "none" {
				done++
			}
			samples[n] = append(samples[n], syncSample{at: time.Now(), syncing: len(f) == 2 && f[0] == "resync"})
		}
		if done == 2 {
			break
		}
		if k1, k2 := len(samples[1]), len(samples[2]); !sawState && samples[1][k1-1].syncing != samples[2][k2-1].syncing {
			// One node resyncs while the other waits: any node's status shows both, read from
			// the cluster state.
			st, err := agentStatus(ctx, l, 2)
			if err != nil {
				return nil, err
			}
			var running, waiting bool
			for _, r := range st.Resyncs {
				running = running || (!r.Waiting && r.Action == "resync")
				waiting = waiting || r.Waiting
			}
			if running && waiting {
				l.Logf("cluster state seen from node2: %+v", st.Resyncs)
				sawState = true
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !sawState {
		return nil, fmt.Errorf("no status showed one resync running and the other held back")
	}
	return samples, nil
}

// resyncsApart requires each node to have resynced, and the two resync periods not to overlap.
func resyncsApart(l *vmlab.Lab, samples map[int][]syncSample) error {
	var periods [2][2]time.Time
	for n := 1; n <= 2; n++ {
		for _, s := range samples[n] {
			if !s.syncing {
				continue
			}
			if periods[n-1][0].IsZero() {
				periods[n-1][0] = s.at
			}
			periods[n-1][1] = s.at
		}
		if periods[n-1][0].IsZero() {
			return fmt.Errorf("node%d never resynced its array (or both did not finish in time)", n)
		}
	}
	a, b := periods[0], periods[1]
	l.Logf("resync periods on the host clock: node1 %s-%s, node2 %s-%s (%d+%d samples)",
		a[0].Format("15:04:05.0"), a[1].Format("15:04:05.0"), b[0].Format("15:04:05.0"), b[1].Format("15:04:05.0"), len(samples[1]), len(samples[2]))
	if !a[1].Before(b[0]) && !b[1].Before(a[0]) {
		return fmt.Errorf("two resyncs ran at once despite max_concurrent 1")
	}
	return nil
}
