package benchvm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/dlm/etcdembed"
)

// Resync is the resync-after-a-crash figure.
type Resync struct {
	ChunkBytes    uint64  `json:"chunk_bytes"`
	DirtyChunks   uint64  `json:"dirty_chunks"`
	DirtyRegions  int     `json:"dirty_regions"`
	DirtyBytes    uint64  `json:"dirty_bytes"`
	ResyncedBytes uint64  `json:"resynced_bytes"` // read from the members during recovery
	WrittenBytes  uint64  `json:"written_bytes"`  // written to the members during recovery
	Ratio         float64 `json:"ratio"`          // resynced / dirty
	Bound         float64 `json:"bound"`          // 1 + regions × chunk / dirty
}

// Throughput is the write-throughput figure: MB/s of each run, interleaved.
type Throughput struct {
	WithAgent []float64 `json:"with_agent_mb_s"`
	NoAgent   []float64 `json:"no_agent_mb_s"`
	Ratio     float64   `json:"ratio"` // median with agent / median without
}

// Idle is the agent's footprint over an idle period.
type Idle struct {
	Engine string  `json:"engine"`
	RSSKiB int     `json:"rss_kib"`
	CPUPct float64 `json:"cpu_percent"` // of the guest's one (emulated) CPU
}

// throughput writes WriteMiB with O_DIRECT to the array, alternately with the agent managing it
// and with the array assembled by hand and no agent running.
func (r *run) throughput(ctx context.Context) (Throughput, error) {
	var t Throughput
	for i := 0; i < r.o.Pairs; i++ {
		mbs, err := r.writeRun(ctx)
		if err != nil {
			return t, err
		}
		t.WithAgent = append(t.WithAgent, mbs)
		if err := r.stopAgent(ctx); err != nil {
			return t, err
		}
		if _, err := r.step(ctx, slow, "assemble the array by hand (no agent)", fmt.Sprintf(
			`mdadm --assemble /dev/md/%s --uuid=%s %s 2>&1`, name, uuid, strings.Join(members, " "))); err != nil {
			return t, err
		}
		if mbs, err = r.writeRun(ctx); err != nil {
			return t, err
		}
		t.NoAgent = append(t.NoAgent, mbs)
		if _, err := r.step(ctx, quick, "stop the array", "mdadm --stop /dev/md/"+name+" 2>&1"); err != nil {
			return t, err
		}
		if err := r.startAgent(ctx, false); err != nil {
			return t, err
		}
	}
	t.Ratio = median(t.WithAgent) / median(t.NoAgent)
	return t, nil
}

// passes is how many times a run writes its WriteMiB: a run must last long against the guest
// clock's 10 ms resolution and the host's noise.
const passes = 4

// writeRun writes WriteMiB at the start of the array passes times with O_DIRECT and returns
// MB/s (guest clock).
func (r *run) writeRun(ctx context.Context) (float64, error) {
	md, err := r.mdDev(ctx)
	if err != nil {
		return 0, err
	}
	out, err := r.step(ctx, slow, fmt.Sprintf("write %d MiB to %s %d times (O_DIRECT)", r.o.WriteMiB, md, passes), fmt.Sprintf(
		`a=$(cut -d' ' -f1 /proc/uptime); for p in $(seq 1 %d); do dd if=/dev/zero of=/dev/%s bs=1M count=%d oflag=direct 2>/dev/null || exit 1; done; b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"`,
		passes, md, r.o.WriteMiB))
	if err != nil {
		return 0, err
	}
	var a, b float64
	if _, err := fmt.Sscanf(out, "%f %f", &a, &b); err != nil || b <= a {
		return 0, fmt.Errorf("write run timing %q: %v", out, err)
	}
	return float64(passes*r.o.WriteMiB) * 1.048576 / (b - a), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// idle watches the agent for Options.Idle and returns its resident memory at the end and the
// CPU it used meanwhile.
func (r *run) idle(ctx context.Context, engine string) (Idle, error) {
	out, err := r.step(ctx, r.o.Idle+quick, fmt.Sprintf("agent idle for %s (%s)", r.o.Idle, engine), fmt.Sprintf(
		`p=$(pidof mdclusterd) || exit 1; sleep 5
t() { awk '{print $14+$15}' /proc/$p/stat; }; a=$(t); u=$(cut -d' ' -f1 /proc/uptime); sleep %d; b=$(t); v=$(cut -d' ' -f1 /proc/uptime)
echo "$a $b $u $v $(awk '/VmRSS/{print $2}' /proc/$p/status) $(getconf CLK_TCK 2>/dev/null || echo 100)"`, int(r.o.Idle.Seconds())))
	if err != nil {
		return Idle{}, err
	}
	f := strings.Fields(out)
	if len(f) != 6 {
		return Idle{}, fmt.Errorf("idle figures %q", out)
	}
	n := make([]float64, 6)
	for i, s := range f {
		if n[i], err = strconv.ParseFloat(s, 64); err != nil {
			return Idle{}, fmt.Errorf("idle figures %q: %w", out, err)
		}
	}
	return Idle{Engine: engine, RSSKiB: int(n[4]), CPUPct: 100 * (n[1] - n[0]) / n[5] / (n[3] - n[2])}, nil
}

// resync dirties three regions of the array (aligned, unaligned, one block), crashes the guest,
// reads the dirty bits and the members' counters before the agent recovers the array, and the
// counters again once the resync is over.
func (r *run) resync(ctx context.Context) (Resync, error) {
	var rs Resync
	md, err := r.mdDev(ctx)
	if err != nil {
		return rs, err
	}
	if _, err := r.step(ctx, quick, "dirty three regions, then crash at once", fmt.Sprintf(
		`dd if=/dev/urandom of=/dev/%[1]s bs=1M count=2 seek=8 oflag=direct 2>/dev/null &&
dd if=/dev/urandom of=/dev/%[1]s bs=4k count=256 seek=$((40*256+25)) oflag=direct 2>/dev/null &&
dd if=/dev/urandom of=/dev/%[1]s bs=4k count=1 seek=$((100*256)) oflag=direct 2>/dev/null && (sleep 0.2; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &`, md)); err != nil {
		return rs, err
	}
	select {
	case <-r.lab.Node(1).Done():
	case <-time.After(quick):
		return rs, fmt.Errorf("the guest did not crash")
	}
	if _, err := r.lab.Restart(ctx, 1); err != nil {
		return rs, err
	}
	if err := r.dirty(ctx, &rs); err != nil {
		return rs, err
	}
	before, err := r.diskstats(ctx)
	if err != nil {
		return rs, err
	}
	if _, err := r.step(ctx, quick, "console log level", "dmesg -n 7"); err != nil {
		return rs, err
	}
	if err := r.startAgent(ctx, false); err != nil {
		return rs, err
	}
	if md, err = r.mdDev(ctx); err != nil {
		return rs, err
	}
	if _, err := r.step(ctx, slow, "wait for the resync under the agent", fmt.Sprintf(`S=/sys/block/%s/md
for i in $(seq 1 1200); do [ "$(cat $S/sync_action)" = idle ] && [ "$(cat $S/last_sync_action)" = resync ] && exit 0; sleep 0.25; done; cat $S/sync_action; exit 1`, md)); err != nil {
		return rs, err
	}
	after, err := r.diskstats(ctx)
	if err != nil {
		return rs, err
	}
	rs.ResyncedBytes, rs.WrittenBytes = (after[0]-before[0])*512, (after[1]-before[1])*512
	rs.Ratio = float64(rs.ResyncedBytes) / float64(rs.DirtyBytes)
	rs.Bound = 1 + float64(uint64(rs.DirtyRegions)*rs.ChunkBytes)/float64(rs.DirtyBytes)
	return rs, nil
}

// dirty reads the dirty chunks and regions of the array's bitmap with mdcadm.
func (r *run) dirty(ctx context.Context, rs *Resync) error {
	out, err := r.step(ctx, quick, "mdcadm --examine-bitmap --json (before recovery)", "mdcadm --examine-bitmap --json "+members[0])
	if err != nil {
		return err
	}
	var x struct {
		Chunksize uint64 `json:"chunksize"`
		Slots     []struct {
			Dirty   uint64            `json:"dirty"`
			Extents []json.RawMessage `json:"dirty_extents"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(out), &x); err != nil || len(x.Slots) == 0 {
		return fmt.Errorf("mdcadm --examine-bitmap --json: %v: %s", err, out)
	}
	rs.ChunkBytes, rs.DirtyChunks, rs.DirtyRegions = x.Chunksize, x.Slots[0].Dirty, len(x.Slots[0].Extents)
	rs.DirtyBytes = rs.DirtyChunks * rs.ChunkBytes
	if rs.DirtyBytes == 0 {
		return fmt.Errorf("the bitmap shows no dirty chunk after the crash: %s", out)
	}
	return nil
}

// diskstats returns the sectors read and written on the members since boot.
func (r *run) diskstats(ctx context.Context) ([2]uint64, error) {
	var s [2]uint64
	out, err := r.step(ctx, quick, "members' diskstats", `awk '$3=="vda"||$3=="vdb"{r+=$6; w+=$10} END{print r, w}' /proc/diskstats`)
	if err != nil {
		return s, err
	}
	_, err = fmt.Sscanf(out, "%d %d", &s[0], &s[1])
	return s, err
}

// etcd is the lock service on the host's loopback, reached by the guest at 10.0.2.2:port.
type etcd struct {
	m    *etcdembed.Member
	dir  string
	port int
}

func startEtcd() (*etcd, error) {
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(urls[0])
	port, _ := strconv.Atoi(u.Port())
	dir, err := os.MkdirTemp("", "mdbench-etcd")
	if err != nil {
		return nil, err
	}
	m, err := etcdembed.Start(dir, etcdembed.WithClientURLs(urls[0]), etcdembed.WithPeerURLs(urls[1]), etcdembed.WithLogLevel("panic"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &etcd{m: m, dir: dir, port: port}, nil
}

func (e *etcd) close() { e.m.Close(); os.RemoveAll(e.dir) }
