package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/api"
)

// Guest-side watchers shared by the md-cluster scenarios: what md shows of md0 on a node, a
// sampler of its sync_action, and the agent's view of it.

// mdState is a guest script printing one line about md0: array state, sync action, degraded
// count, raid disks, members in sync, spares, faulty members and the sync words /proc/mdstat
// shows for it (recovery, resync, REMOTE, PENDING, DELAYED, reshape, check).
const mdState = `S=/sys/block/md0/md
[ -e $S/array_state ] || { echo "state=absent"; exit 0; }
read st < $S/array_state; read sa < $S/sync_action; read dg < $S/degraded; read rd < $S/raid_disks
ins=0; sp=0; bad=""
for d in $S/dev-*; do [ -e "$d/state" ] || continue; read s < $d/state
  case ",$s," in *,in_sync,*) ins=$((ins+1));; *,spare,*) sp=$((sp+1));; esac
  case ",$s," in *,faulty,*) bad="$bad,${d##*/dev-}";; esac
done
ms=$(sed -n '/^md0/,/^$/p' /proc/mdstat | grep -oE 'recovery|resync|REMOTE|PENDING|DELAYED|reshape|check' | sort -u | tr '\n' ',')
echo "state=$st action=$sa degraded=$dg raid_disks=$rd in_sync=$ins spares=$sp faulty=${bad#,} mdstat=${ms%,}"`

// mdView is the parsed mdState line.
type mdView map[string]string

func parseMDView(out string) mdView {
	v := mdView{}
	for _, f := range strings.Fields(out) {
		if k, val, ok := strings.Cut(f, "="); ok {
			v[k] = val
		}
	}
	return v
}

func (v mdView) int(k string) int { n, _ := strconv.Atoi(v[k]); return n }

// mdWant is what a settled md0 looks like on a node.
type mdWant struct {
	raidDisks, spares int
	faulty            string // the faulty members still bound, comma-separated ("" none)
}

func (w mdWant) String() string {
	return fmt.Sprintf("%d members, %d spares, faulty [%s]", w.raidDisks, w.spares, w.faulty)
}

// settled reports whether md0 is idle and as wanted on a node: read-write, no sync running or
// pending there or announced by a peer, nothing degraded, every member in sync.
func (v mdView) settled(w mdWant) bool {
	return v["state"] != "absent" && v["state"] != "read-auto" && v["action"] == "idle" && v.int("degraded") == 0 &&
		v.int("raid_disks") == w.raidDisks && v.int("in_sync") == w.raidDisks && v.int("spares") == w.spares &&
		v["faulty"] == w.faulty && v["mdstat"] == ""
}

func (v mdView) String() string {
	return fmt.Sprintf("%s %s degraded=%s members=%s/%s spares=%s faulty=[%s] mdstat=[%s]",
		v["state"], v["action"], v["degraded"], v["in_sync"], v["raid_disks"], v["spares"], v["faulty"], v["mdstat"])
}

// readMD reads md0's state on node without logging a step (for polling loops).
func readMD(ctx context.Context, l *vmlab.Lab, node int) (mdView, error) {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := l.Node(node).Run(cctx, mdState)
	if err != nil {
		return nil, err
	}
	return parseMDView(r.Stdout), nil
}

// waitSettled polls every node until md0 is settled on all of them (see mdView.settled) or
// within has passed; it returns when the last node settled, on the host clock.
func waitSettled(ctx context.Context, l *vmlab.Lab, nodes []int, want mdWant, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	last := map[int]mdView{}
	for {
		all := true
		for _, n := range nodes {
			v, err := readMD(ctx, l, n)
			if err != nil {
				return time.Time{}, err
			}
			last[n] = v
			all = all && v.settled(want)
		}
		if all {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, n := range nodes {
				fmt.Fprintf(&b, "\n  node%d: %s", n, last[n])
			}
			return time.Time{}, fmt.Errorf("md0 not settled on every node within %s (want %s):%s", within, want, b.String())
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// startSampler starts a guest loop that appends "uptime sync_action degraded" to /tmp/syncs
// each time md0's sync_action or degraded count changes (looked at every 0.1 s with shell
// builtins, so it costs little).
func startSampler(ctx context.Context, l *vmlab.Lab, node int) error {
	_, err := step(ctx, l, node, quick, "sample md0's sync_action in the background", `: > /tmp/syncs
(S=/sys/block/md0/md; p=; while :; do
  if [ -e $S/sync_action ]; then read a < $S/sync_action; read d < $S/degraded; else a=absent; d=-; fi
  if [ "$a $d" != "$p" ]; then read u _ < /proc/uptime; echo "$u $a $d" >> /tmp/syncs; p="$a $d"; fi
  sleep 0.1
done) >/dev/null 2>&1 &
echo $! > /tmp/sampler.pid`)
	return err
}

// syncSampleLine is one change of md0's sync state seen by the sampler (guest uptime).
type syncSampleLine struct {
	uptime   float64
	action   string
	degraded string
}

// takeSamples returns and clears what node's sampler recorded since the last call.
func takeSamples(ctx context.Context, l *vmlab.Lab, node int) ([]syncSampleLine, error) {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := l.Node(node).Run(cctx, "cat /tmp/syncs; : > /tmp/syncs")
	if err != nil {
		return nil, err
	}
	var out []syncSampleLine
	for _, ln := range vmlab.Lines(r.Stdout) {
		f := strings.Fields(ln)
		if len(f) != 3 {
			continue
		}
		u, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out = append(out, syncSampleLine{uptime: u, action: f[1], degraded: f[2]})
	}
	return out, nil
}

// window is a span of guest uptime during which mdadm itself may freeze md's sync (mdadm
// --add and --re-add write "frozen" around ADD_NEW_DISK and "idle" after).
type window struct{ from, to float64 }

// frozenOutside returns the samples that show "frozen" outside every window.
func frozenOutside(samples []syncSampleLine, ws []window) []syncSampleLine {
	var bad []syncSampleLine
	for _, s := range samples {
		if s.action != "frozen" {
			continue
		}
		inside := false
		for _, w := range ws {
			inside = inside || (s.uptime >= w.from-0.2 && s.uptime <= w.to+0.2)
		}
		if !inside {
			bad = append(bad, s)
		}
	}
	return bad
}

// agentNeverHeldBack reads node's agent status and fails if the agent froze or started a
// sync (its sync_frozen or sync_started counters moved), if it does not list the array with
// this UUID as a clustered array, or if any published resync of it is held back. With idle
// (md settled everywhere), it also waits (up to 10 s: the agents look every 2 s) until no node
// publishes a sync of the array any more: a record left behind would show a resync lease held.
func agentNeverHeldBack(ctx context.Context, l *vmlab.Lab, node int, uuid string, idle bool) (api.ArrayStatus, error) {
	for i := 0; ; i++ {
		as, left, err := agentView(ctx, l, node, uuid)
		if err != nil || !idle || len(left) == 0 {
			return as, err
		}
		if i == 20 {
			return as, fmt.Errorf("node%d's status still shows syncs of %s with md idle everywhere: %+v", node, as.Name, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// agentView is one look for agentNeverHeldBack; it returns the array and its published syncs.
func agentView(ctx context.Context, l *vmlab.Lab, node int, uuid string) (api.ArrayStatus, []api.Resync, error) {
	st, err := agentStatus(ctx, l, node)
	if err != nil {
		return api.ArrayStatus{}, nil, err
	}
	if n := st.Actions["sync_frozen"] + st.Actions["sync_started"]; n != 0 {
		return api.ArrayStatus{}, nil, fmt.Errorf("node%d's agent froze or started md's sync: actions %v", node, st.Actions)
	}
	var found *api.ArrayStatus
	for i := range st.Arrays {
		if st.Arrays[i].UUID == uuid {
			found = &st.Arrays[i]
		}
	}
	if found == nil {
		return api.ArrayStatus{}, nil, fmt.Errorf("node%d's agent does not list array %s: %+v", node, uuid, st.Arrays)
	}
	if found.Mode != "clustered" {
		return *found, nil, fmt.Errorf("node%d's agent lists %s as %q, want clustered", node, uuid, found.Mode)
	}
	var syncs []api.Resync
	for _, r := range st.Resyncs {
		if r.Array != found.Name {
			continue
		}
		if r.Waiting {
			return *found, nil, fmt.Errorf("node%d's status shows a sync of %s held back: %+v", node, found.Name, r)
		}
		syncs = append(syncs, r)
	}
	return *found, syncs, nil
}

// mdclusterDiag gathers what explains a stuck md-cluster array on node: md's state, the
// stacks of every blocked task (sysrq w), the kernel's last lines and the agent's.
func mdclusterDiag(ctx context.Context, l *vmlab.Lab, node int) string {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := l.Node(node).Run(cctx, mdState+`
cat /proc/mdstat
n=$(dmesg | wc -l)
echo w > /proc/sysrq-trigger; sleep 1
echo "--- blocked tasks (sysrq w):"; dmesg | tail -n +$((n+1)) | grep -vE '^\[ *[0-9.]+\] +(R[A-Z0-9]{2}|FS|CS|CR2|PKRU|Code):' | head -n 150
echo "--- kernel before:"; dmesg | head -n $n | tail -n 25
echo "--- agent:"; mdclusterd status | grep -o '"actions":{[^}]*}'; tail -n 8 /tmp/mdclusterd.log`)
	if err != nil {
		return fmt.Sprintf("node%d: diagnostics: %v", node, err)
	}
	return fmt.Sprintf("node%d:\n%s", node, r.Stdout)
}

// kernelComplaints returns the kernel log lines on node that show md-cluster or the DLM in
// trouble: a hung task (a sync blocked in a DLM lock), a spurious new-disk confirmation, a
// failed cluster message or lock. (Debian's 6.1 DLM warns once of a "field-spanning write" in
// its request queue when a node joins during recovery: a FORTIFY false positive, not counted.)
func kernelComplaints(ctx context.Context, l *vmlab.Lab, node int) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := l.Node(node).Run(cctx, `dmesg | grep -iE 'blocked for more than|Spurious cluster confirmation|BUG:|Oops|failed to (send|get|convert|cancel|unlock|lock)|md-cluster.*(fail|error|Could not)|add new device failed' ; true`)
	if err != nil {
		return nil, err
	}
	return vmlab.Lines(r.Stdout), nil
}

// mdSyncLog counts md's kernel lines about md0's syncs on a node: syncs started (md holds
// md-cluster's resync lock by then), finished, interrupted; and how long the last one ran
// (kernel timestamps: its start line to its end line).
type mdSyncLog struct {
	started, done, interrupted int
	lastRan                    float64
}

// sub returns the counts since o; lastRan stays the latest sync's.
func (c mdSyncLog) sub(o mdSyncLog) mdSyncLog {
	return mdSyncLog{c.started - o.started, c.done - o.done, c.interrupted - o.interrupted, c.lastRan}
}

func (c mdSyncLog) String() string {
	return fmt.Sprintf("%d/%d/%d (last %.1fs)", c.started, c.done, c.interrupted, c.lastRan)
}

// readSyncLog reads node's mdSyncLog from dmesg.
func readSyncLog(ctx context.Context, l *vmlab.Lab, node int) (mdSyncLog, error) {
	cctx, cancel := context.WithTimeout(ctx, quick)
	defer cancel()
	r, err := l.Node(node).Run(cctx, `d=$(dmesg | grep -E ' of RAID array md0$|md: md0: [a-z]* (done|interrupted)')
for p in ' of RAID array md0$' 'md: md0: [a-z]* done' 'md: md0: [a-z]* interrupted'; do echo "$d" | grep -c "$p"; done
echo "$d" | tail -n 2 | sed 's/^\[ *\([0-9.]*\)\].*/\1/'`)
	if err != nil {
		return mdSyncLog{}, err
	}
	var c mdSyncLog
	f := strings.Fields(r.Stdout)
	if len(f) < 3 {
		return c, fmt.Errorf("node%d: md sync lines: %q", node, r.Stdout)
	}
	if _, err := fmt.Sscan(strings.Join(f[:3], " "), &c.started, &c.done, &c.interrupted); err != nil {
		return c, fmt.Errorf("node%d: md sync lines: %w: %q", node, err, r.Stdout)
	}
	if len(f) == 5 {
		t0, err0 := strconv.ParseFloat(f[3], 64)
		t1, err1 := strconv.ParseFloat(f[4], 64)
		if err0 == nil && err1 == nil && t1 >= t0 {
			c.lastRan = t1 - t0
		}
	}
	return c, nil
}

// newDiskAnswers is, per node, how many of md-cluster's new-disk requests its agent answered,
// by kind.
type newDiskAnswers struct{ confirmed, nacked map[int]int }

// confirmations counts, per node, the new-disk confirmations and NACKs in the cluster's event
// log.
func confirmations(ctx context.Context, l *vmlab.Lab) (newDiskAnswers, error) {
	a := newDiskAnswers{confirmed: map[int]int{}, nacked: map[int]int{}}
	evs, err := mdEvents(ctx, l, 1)
	if err != nil {
		return a, err
	}
	for _, e := range evs {
		var n int
		if _, err := fmt.Sscanf(e.Node, "node%d", &n); err != nil {
			continue
		}
		switch e.Type {
		case api.EventNewDiskConfirm:
			a.confirmed[n]++
		case api.EventNewDiskNack:
			a.nacked[n]++
		}
	}
	return a, nil
}

// removedEverywhere waits (up to 15 s, in parallel) until disk is no longer bound to md0 on
// every peer. Where it stays bound, it is recorded with its state and removed there.
func removedEverywhere(ctx context.Context, l *vmlab.Lab, peers []int, disk string) ([]string, error) {
	script := fmt.Sprintf(`D=/sys/block/md0/md/dev-%[1]s; i=0
while [ -e $D/state ] && [ $i -lt 60 ]; do sleep 0.25; i=$((i+1)); done
[ -e $D/state ] && { echo "lingers $(cat $D/state)"; exit 0; }
echo "gone $i"`, disk)
	res := make([]string, len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, n := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = step(ctx, l, n, quick, "wait until "+disk+" is no longer bound to md0", script)
		}()
	}
	wg.Wait()
	var lingered []string
	for i, n := range peers {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !strings.HasPrefix(res[i], "lingers") {
			continue
		}
		lingered = append(lingered, fmt.Sprintf("node%d kept %s (%s)", n, disk, strings.TrimPrefix(res[i], "lingers ")))
		if _, err := step(ctx, l, n, quick, "operator removes the lingering "+disk+" on node"+fmt.Sprint(n),
			shimEnv+"mdadm /dev/md0 --remove /dev/"+disk+" 2>&1"); err != nil {
			return nil, err
		}
	}
	return lingered, nil
}

// waitSyncDone waits until node's kernel log shows one more of md0's syncs done than before,
// and returns the lines since before.
func waitSyncDone(ctx context.Context, l *vmlab.Lab, node int, before mdSyncLog, within time.Duration) (mdSyncLog, error) {
	end := time.Now().Add(within)
	for {
		c, err := readSyncLog(ctx, l, node)
		if err != nil {
			return c, err
		}
		if c.done > before.done {
			return c.sub(before), nil
		}
		if time.Now().After(end) {
			return c.sub(before), fmt.Errorf("node%d: no sync of md0 done within %s (since: %s)", node, within, c.sub(before))
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
