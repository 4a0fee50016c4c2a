package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// DebianLifecycleOptions: two Debian guests on the host's etcd and the RAID5's three disks.
var DebianLifecycleOptions = vmlab.Options{Nodes: 2, Disks: 3, DiskSize: 64 << 20, UserNet: true, Debian: true}

// fstabLine mounts the RAID5's filesystem where its agent assembled it: after the agent and
// unmounted before it stops (x-systemd.after), without holding up the boot of the nodes that do
// not hold the array (nofail, a bounded wait for the device). x-systemd.requires would make
// `systemctl restart mdclusterd` restart the mount too (seen: the restart unmounted it, and the
// agent's clean stop then stopped the array it no longer found in use).
const fstabLine = "/dev/md/data /srv/data ext4 nofail,x-systemd.after=mdclusterd.service,x-systemd.device-timeout=60s 0 2"

// lifecycle is the state the lifecycle scenarios share.
type lifecycle struct {
	l      *vmlab.Lab
	uuid   string
	holder int
	md     string
	since  time.Time // host time the current holder took the array
}

func (lc *lifecycle) other() int { return 3 - lc.holder }

// DebianLifecycleSetup creates the RAID5 with an ext4 filesystem in both nodes' fstab, starts
// both agents and mounts the filesystem where the array runs.
func DebianLifecycleSetup(ctx context.Context, l *vmlab.Lab, etcdPort int) (*lifecycle, error) {
	if err := startDebianAgents(ctx, l, etcdPort, ""); err != nil {
		return nil, err
	}
	uuid, err := createDebianRAID5(ctx, l, true)
	if err != nil {
		return nil, err
	}
	for n := 1; n <= 2; n++ {
		if _, err := step(ctx, l, n, quick, "the RAID5's filesystem in /etc/fstab",
			"mkdir -p /srv/data && echo '"+fstabLine+"' >> /etc/fstab && systemctl daemon-reload"); err != nil {
			return nil, err
		}
	}
	if err := startDebianAgents(ctx, l, etcdPort, debianArrays(uuid, "")); err != nil {
		return nil, err
	}
	holder, md, err := waitAssembledAnywhere(ctx, l, uuid, 90*time.Second)
	if err != nil {
		return nil, err
	}
	lc := &lifecycle{l: l, uuid: uuid, holder: holder, md: md, since: time.Now()}
	return lc, lc.mount(ctx)
}

func (lc *lifecycle) mount(ctx context.Context) error {
	_, err := step(ctx, lc.l, lc.holder, quick, "systemctl start srv-data.mount", "systemctl start srv-data.mount && findmnt -n -o SOURCE /srv/data")
	return err
}

// watchPresence records, every 0.1 s in the guest, each moment the holder's md device is gone.
func (lc *lifecycle) watchPresence(ctx context.Context) error {
	_, err := step(ctx, lc.l, lc.holder, quick, "watch that "+lc.md+" keeps running (every 0.1 s)", fmt.Sprintf(
		`rm -f /run/absent; (while true; do [ -e /sys/block/%s/md/array_state ] || echo "absent $(cut -d' ' -f1 /proc/uptime)" >> /run/absent; sleep 0.1; done) >/dev/null 2>&1 &`, lc.md))
	return err
}

// agentPID is the main PID systemd has for mdclusterd on node.
func agentPID(ctx context.Context, l *vmlab.Lab, node int) (int, error) {
	out, err := step(ctx, l, node, quick, "mdclusterd's main PID", "systemctl show -p MainPID --value mdclusterd")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// checkUndisturbed: the holder's array never went away, the other node never started it, and
// the holder was not reset.
func (lc *lifecycle) checkUndisturbed(ctx context.Context, what string) error {
	if lc.l.Node(lc.holder).Exited() {
		return fmt.Errorf("%s: node%d was reset", what, lc.holder)
	}
	out, err := step(ctx, lc.l, lc.holder, quick, "moments the array was gone", "cat /run/absent 2>/dev/null | wc -l")
	if err != nil {
		return err
	}
	if out != "0" {
		diag, _ := step(ctx, lc.l, lc.holder, quick, "what happened", `head -3 /run/absent; tail -1 /run/absent; cat /proc/mdstat
dmesg | grep -E 'md|EXT4' | tail -15; journalctl -b -u mdclusterd -o short-monotonic --no-pager | tail -40`)
		return fmt.Errorf("%s: node%d's array was gone %s time(s) (every 0.1 s):\n%s", what, lc.holder, out, diag)
	}
	if s := raid5Started(lc.l, lc.other(), lc.since); len(s) != 0 {
		return fmt.Errorf("%s: node%d started the RAID5", what, lc.other())
	}
	on, err := runningOn(ctx, lc.l, lc.uuid)
	if err != nil {
		return err
	}
	if len(on) != 1 || on[0] != lc.holder {
		return fmt.Errorf("%s: the RAID5 runs on %v, want node%d alone", what, on, lc.holder)
	}
	return nil
}

// DebianRestartUnderWrites is scenario (d): `systemctl restart mdclusterd` twice on the holder
// while a service writes to the mounted filesystem. The clean stop cannot stop the mounted
// array, so the agent keeps its lease, session and armed watchdog and exits; systemd starts it
// again, and the new agent resumes the session. No stop, no takeover, no reset, no lost write.
func DebianRestartUnderWrites(ctx context.Context, lc *lifecycle) error {
	l, h := lc.l, lc.holder
	if err := lc.watchPresence(ctx); err != nil {
		return err
	}
	if _, err := step(ctx, l, h, quick, "a writer service on /srv/data (fsync'ed appends; /run/acked counts them)",
		`systemd-run --unit=mdlab-writer --property=RequiresMountsFor=/srv/data /bin/sh -c 'i=0; while :; do echo $i >> /srv/data/log && sync /srv/data/log && echo $i > /run/acked; i=$((i+1)); sleep 0.1; done' >/dev/null 2>&1
sleep 2; cat /run/acked`); err != nil {
		return err
	}
	for i := 1; i <= 2; i++ {
		before, err := agentPID(ctx, l, h)
		if err != nil {
			return err
		}
		if err := systemctlAgent(ctx, l, h, "restart"); err != nil {
			return err
		}
		after, err := agentPID(ctx, l, h)
		if err != nil {
			return err
		}
		if after == before {
			return fmt.Errorf("restart %d: mdclusterd kept PID %d", i, after)
		}
		time.Sleep(3 * time.Second) // a late stop, takeover or reset would show now
		if err := lc.checkUndisturbed(ctx, fmt.Sprintf("restart %d", i)); err != nil {
			return err
		}
		l.Logf("node%d: restart %d under writes: PID %d -> %d, the array kept running, node%d did not take it", h, i, before, after, lc.other())
	}
	resumed, err := journalCount(ctx, l, h, "mdclusterd", "resumed=true")
	if err != nil {
		return err
	}
	out, err := step(ctx, l, h, quick, "stop the writer; every acknowledged write is in the file",
		`a=$(cat /run/acked); systemctl stop mdlab-writer; grep -qx "$a" /srv/data/log && echo "$a writes acknowledged, the last one on disk"`)
	if err != nil {
		return err
	}
	if resumed < 2 {
		return fmt.Errorf("node%d: the restarted agents resumed their session %d time(s), want 2", h, resumed)
	}
	l.Logf("node%d: %s; the restarted agents resumed the session %d times", h, out, resumed)
	return nil
}

// DebianUpgrade is scenario (e): the holder's filesystem unmounted (so a clean stop would stop
// the array), `dpkg -i` of a newer build of the package. Its postinst reloads the agent: the
// new binary runs in the same process, resumes the session, and the array keeps running.
func DebianUpgrade(ctx context.Context, lc *lifecycle) error {
	l, h := lc.l, lc.holder
	if _, err := step(ctx, l, h, quick, "umount /srv/data (the array stays assembled, not in use)", "systemctl stop srv-data.mount && ! findmnt /srv/data"); err != nil {
		return err
	}
	before, err := agentPID(ctx, l, h)
	if err != nil {
		return err
	}
	// postinst's systemctl reload returns once the new binary answers with its session
	// (mdclusterd reload): right after dpkg, the process runs the installed file, not the
	// deleted one, and its status shows another start time.
	out, err := step(ctx, l, h, slow, "dpkg -i the newer build", `started() { mdclusterd status | grep -m1 '"started"'; }
old=$(started) || exit 1
dpkg -i /root/debs/next/mdcluster_*+next_amd64.deb 2>&1 | grep -v '^(Reading database'
new=$(started) || { echo "no status right after dpkg -i"; exit 1; }
[ "$new" != "$old" ] || { echo "the old process still answers right after dpkg -i: $old"; exit 1; }
dpkg-query -W -f='${Version}\n' mdcluster
readlink /proc/$(systemctl show -p MainPID --value mdclusterd)/exe`)
	if err != nil {
		return err
	}
	lines := vmlab.Lines(out)
	if len(lines) < 2 || !strings.HasSuffix(lines[len(lines)-2], "+next") || lines[len(lines)-1] != "/usr/sbin/mdclusterd" {
		return fmt.Errorf("after dpkg -i: %q (want the +next version, and the agent running the installed binary)", out)
	}
	for _, ln := range lines {
		l.Logf("node%d:   %s", h, ln)
	}
	after, err := agentPID(ctx, l, h)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("the upgrade restarted mdclusterd (PID %d -> %d) instead of reloading it", before, after)
	}
	time.Sleep(3 * time.Second)
	if err := lc.checkUndisturbed(ctx, "upgrade"); err != nil {
		return err
	}
	if n, err := journalCount(ctx, l, h, "mdclusterd", "reload: running the installed binary"); err != nil || n != 1 {
		return fmt.Errorf("node%d: %d reload line(s) in the journal (%v)", h, n, err)
	}
	l.Logf("node%d: upgraded to the newer build; mdclusterd reloaded in place (PID %d), the array kept running", h, after)
	return nil
}
