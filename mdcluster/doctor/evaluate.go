package doctor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/fence"
)

// Thresholds of the checks.
const (
	// StaleReport: an older report may no longer describe its node.
	StaleReport = time.Hour
	// ClockWarn and ClockFail bound the wall-clock offset between two nodes. The protocol runs
	// on monotonic clocks, but certificates, logs and an operator's timeline of a failover need
	// the nodes to agree.
	ClockWarn = 250 * time.Millisecond
	ClockFail = time.Second
	// EtcdRequestTimeout is how long an etcd member holds a request before it gives up (5 s):
	// after a leader crash, a renewal can be stuck that long plus two election timeouts.
	EtcdRequestTimeout = 5 * time.Second
)

// Evaluate turns the facts into the report. self is this node's fresh facts; reports are the
// latest published facts of every node (self's old one among them is replaced); expect names
// the nodes that must report (the etcd-cluster's members; none for an external etcd). now is
// this node's wall clock. Node rows come in node order, then the cluster-wide ones.
func Evaluate(self Facts, reports []Facts, expect []string, now time.Time) []Result {
	byNode := map[string]Facts{}
	for _, f := range reports {
		byNode[f.Node] = f
	}
	byNode[self.Node] = self
	nodes := slices.Sorted(mapKeys(byNode))
	var out []Result
	for _, n := range expect {
		if _, ok := byNode[n]; !ok {
			// A warning, not a failure: the first runs on a new cluster always meet it.
			out = append(out, Result{Check: "report", Node: n, Status: StatusWarn, Detail: "no doctor report from this node yet: the cluster-wide checks leave it out",
				Advice: "run `mdclusterd doctor` on " + n + " (each run publishes the node's facts for the others)"})
		}
	}
	for _, n := range nodes {
		f := byNode[n]
		if age := now.Sub(f.Written); n != self.Node && age > StaleReport {
			out = append(out, Result{Check: "report", Node: n, Status: StatusWarn,
				Detail: fmt.Sprintf("its latest report is %s old", age.Round(time.Minute)), Advice: "run `mdclusterd doctor` on " + n + " again"})
		}
		out = append(out, checkModules(f), checkWatchdog(f), checkUdev(f), checkMdadmConf(f))
		out = append(out, checkDevices(f)...)
		out = append(out, checkLock(f), checkClock(f), checkTiming(f))
	}
	out = append(out, checkSameDisks(nodes, byNode)...)
	out = append(out, checkClusterName(nodes, byNode))
	return out
}

func checkModules(f Facts) Result {
	r := Result{Check: "modules", Node: f.Node}
	var bad []string
	for _, m := range f.Modules {
		if m.Err != "" {
			bad = append(bad, m.Err)
		}
	}
	if len(bad) > 0 {
		r.Status, r.Detail = StatusFail, strings.Join(bad, "; ")
		r.Advice = "install the running kernel's modules (linux-image package) and remove any blacklist or `install … /bin/false` line for them in /etc/modprobe.d"
		return r
	}
	r.Status, r.Detail = StatusOK, fmt.Sprintf("%d modules load: %s", len(f.Modules), moduleNames(f.Modules))
	return r
}

func moduleNames(ms []ModuleFact) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, " ")
}

func checkWatchdog(f Facts) Result {
	w := f.Watchdog
	r := Result{Check: "watchdog", Node: f.Node}
	driver := w.Identity
	if driver == "" {
		driver = "unknown driver"
	}
	switch {
	case w.Device == "":
		r.Status, r.Detail = StatusWarn, "leases.watchdog is empty: this node does not fence itself (exclusive arrays are refused)"
		r.Advice = "set leases.watchdog to the hardware watchdog (or softdog) device"
	case w.Err != "":
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s: %s", w.Device, w.Err)
		r.Advice = "load the watchdog's driver (the board's, or softdog) and list it in /etc/modules-load.d; leases.watchdog names its device"
	case w.HeldBy != "" && !strings.HasPrefix(w.HeldBy, "mdclusterd "):
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s (%s) is held by %s: the agent cannot pet it", w.Device, driver, w.HeldBy)
		r.Advice = "stop that user of the watchdog (systemd: RuntimeWatchdogSec=0 in /etc/systemd/system.conf; the watchdog daemon) or give the agent another device"
	case w.Armed:
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s (%s) is counting down and nobody holds it: an agent stopped while this node could still write (not opened: that would disarm the reset)", w.Device, driver)
		r.Advice = "start mdclusterd now (systemctl start mdclusterd): it resumes the session; otherwise the node resets itself, as it must"
	case w.NoWayOut:
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s (%s) has nowayout set: once opened it can never be disarmed (not opened)", w.Device, driver)
		r.Advice = "load the driver with nowayout=0 (e.g. `options softdog nowayout=0` in /etc/modprobe.d): the agent's clean stop disarms the watchdog"
	case w.Accepted.Duration > 0 && w.Accepted.Duration >= f.Margin.Duration:
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s (%s) runs with a %s timeout, not below the %s margin", w.Device, driver, w.Accepted, f.Margin)
		r.Advice = "the driver rounds timeouts up: raise leases.watchdog_margin above the timeout it accepts"
	case w.HeldBy != "":
		r.Status, r.Detail = StatusOK, fmt.Sprintf("%s (%s) is held by %s, timeout %s", w.Device, driver, w.HeldBy, w.Accepted)
	default:
		r.Status, r.Detail = StatusOK, fmt.Sprintf("%s (%s) opened, accepted a %s timeout, disarmed", w.Device, driver, w.Accepted)
	}
	return r
}

func checkUdev(f Facts) Result {
	u := f.Udev
	r := Result{Check: "udev", Node: f.Node}
	switch {
	case u.Masked != "":
		r.Status, r.Detail = StatusFail, u.Masked+" replaces the package's "+RuleName+": mdadm's rules act on the agent's arrays"
		r.Advice = "remove " + u.Masked + " and run `udevadm control --reload-rules; udevadm trigger --subsystem-match=block --action=change`"
	case u.Rule == "":
		r.Status, r.Detail = StatusFail, "no "+RuleName+": mdadm's incremental assembly may run exclusive arrays on any node, and mdadm and the agent both answer new-disk requests"
		r.Advice = "reinstall the mdcluster package (it ships /lib/udev/rules.d/" + RuleName + ")"
	case len(u.Undeferred) > 0:
		r.Status, r.Detail = StatusFail, "udev has not marked these exclusive members as the agent's: "+strings.Join(u.Undeferred, " ")
		r.Advice = "run `udevadm trigger --subsystem-match=block --action=change` (after a change of the configuration's arrays)"
	default:
		r.Status, r.Detail = StatusOK, u.Rule+" keeps mdadm's incremental assembly off exclusive members"
		if u.MdadmConfirm != "" {
			r.Detail += " and " + u.MdadmConfirm + " off new-disk requests"
		}
	}
	return r
}

func checkMdadmConf(f Facts) Result {
	m := f.MdadmConf
	r := Result{Check: "mdadm.conf", Node: f.Node}
	switch {
	case m.Err != "":
		r.Status, r.Detail, r.Advice = StatusFail, m.Err, "make mdadm's configuration readable"
	case len(m.Listed) > 0:
		r.Status = StatusFail
		r.Detail = "ARRAY lines name exclusive arrays: " + strings.Join(m.Listed, ", ") + ": mdadm --assemble --scan and the initramfs would run them without the lease"
		r.Advice = "delete those ARRAY lines or write them `ARRAY <ignore> UUID=…`, then `update-initramfs -u`"
	case len(m.Initramfs) > 0:
		r.Status = StatusFail
		r.Detail = "no `ARRAY <ignore>` line for " + strings.Join(m.Initramfs, ", ") + ": the initramfs (mdadm's hook: its incremental-assembly rule, and ARRAY lines for every array on the disks when mdadm.conf has none) would assemble it at boot on every node, before the agent"
		r.Advice = "add `ARRAY <ignore> UUID=<uuid>` for each to /etc/mdadm/mdadm.conf (keep the ARRAY lines of the arrays this server boots from), then `update-initramfs -u`"
	case m.InitramfsStale != "":
		r.Status = StatusFail
		r.Detail = "mdadm.conf changed after " + m.InitramfsStale + " was built: the initramfs still has the old file"
		r.Advice = "`update-initramfs -u`"
	default:
		r.Status, r.Detail = StatusOK, "every exclusive array is left to the agent (no ARRAY line, or <ignore>)"
		if len(m.Files) > 0 {
			r.Detail += " (" + strings.Join(m.Files, " ") + ")"
		}
	}
	return r
}

// unstable are kernel names that change between boots and between servers.
var unstable = []string{"/dev/sd", "/dev/vd", "/dev/hd", "/dev/xvd", "/dev/nvme", "/dev/dm-"}

func checkDevices(f Facts) []Result {
	var out []Result
	for _, a := range f.Arrays {
		r := Result{Check: "devices " + a.Name, Node: f.Node, Status: StatusOK}
		var fails, warns []string
		created := 0
		for _, d := range a.Devices {
			switch {
			case d.Err == "no such device":
				fails = append(fails, d.Path+": no such device")
			case d.Err != "":
				warns = append(warns, d.Path+": "+d.Err)
			case !config.SameUUID(d.ArrayUUID, a.UUID):
				fails = append(fails, fmt.Sprintf("%s is a member of array %s, not %s", d.Path, d.ArrayUUID, a.UUID))
			default:
				created++
			}
			for _, p := range unstable {
				if strings.HasPrefix(d.Path, p) {
					warns = append(warns, d.Path+" is a kernel name, which can differ between boots and servers")
				}
			}
		}
		switch {
		case len(fails) > 0:
			r.Status, r.Detail = StatusFail, strings.Join(fails, "; ")
			r.Advice = "every node must see every member under the configured path: check arrays[].devices, the cabling and the SAN zoning (ls -l /dev/disk/by-id)"
		case len(warns) > 0:
			r.Status, r.Detail = StatusWarn, strings.Join(warns, "; ")
			r.Advice = "use /dev/disk/by-id/wwn-… paths, the disks' own names; create the array if it does not exist yet"
		default:
			r.Detail = fmt.Sprintf("%d members present, superblocks of array %s", created, a.UUID)
		}
		out = append(out, r)
	}
	return out
}

func checkLock(f Facts) Result {
	l := f.Lock
	r := Result{Check: "lock service", Node: f.Node}
	retry := f.TTL.Duration / dlm.RetryDivisor
	switch {
	case f.Engine == config.EngineKernel:
		r.Status, r.Detail = StatusSkip, "kernel DLM: checked by corosync and dlm_controld"
	case l.Err != "" || !l.Quorum:
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%v: %s", l.Endpoints, l.Err)
		r.Advice = "start mdclusterd on enough nodes for a majority of the etcd members (2 of 3), and check the network between them and their certificates"
	case l.Max.Duration > retry:
		r.Status = StatusFail
		r.Detail = fmt.Sprintf("%d members, quorum; a write takes %s (slowest %s), more than TTL/%d = %s: renewals would miss", l.Members, l.Latency, l.Max, dlm.RetryDivisor, retry)
		r.Advice = "put etcd's data on a faster disk or fix the network, or raise leases.ttl"
	case l.Max.Duration > retry/2:
		r.Status = StatusWarn
		r.Detail = fmt.Sprintf("%d members, quorum; a write takes %s (slowest %s), near TTL/%d = %s", l.Members, l.Latency, l.Max, dlm.RetryDivisor, retry)
		r.Advice = "watch etcd's disk and network latency"
	default:
		r.Status, r.Detail = StatusOK, fmt.Sprintf("%d members, quorum; a write takes %s (slowest %s)", l.Members, l.Latency, l.Max)
	}
	if l.Leader != "" {
		r.Detail += "; leader " + l.Leader
	}
	return r
}

func checkClock(f Facts) Result {
	r := Result{Check: "clock", Node: f.Node}
	if f.Engine != config.EngineCluster {
		r.Status, r.Detail = StatusSkip, "measured between the members of an agent-formed etcd cluster only"
		r.Advice = "keep the nodes' clocks synchronised (chrony or systemd-timesyncd)"
		return r
	}
	var worst time.Duration
	var parts, unreachable []string
	for _, c := range f.Clock {
		if c.Err != "" {
			unreachable = append(unreachable, c.Peer+": "+c.Err)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %+.3fs (±%.3fs)", c.Peer, c.Offset.Seconds(), c.RTT.Seconds()/2))
		worst = max(worst, c.Offset.Abs())
	}
	r.Detail = strings.Join(parts, ", ")
	switch {
	case worst > ClockFail:
		r.Status = StatusFail
		r.Advice = "synchronise the clocks of every node (chrony or systemd-timesyncd): certificates, logs and a failover's timeline assume it"
	case len(unreachable) > 0:
		r.Status, r.Detail = StatusWarn, strings.TrimPrefix(r.Detail+"; unreachable "+strings.Join(unreachable, "; "), "; ")
		r.Advice = "check the peer URLs, the network and the peer certificates"
	case worst > ClockWarn:
		r.Status, r.Advice = StatusWarn, "synchronise the clocks (chrony or systemd-timesyncd)"
	default:
		r.Status = StatusOK
	}
	return r
}

func checkTiming(f Facts) Result {
	r := Result{Check: "timing", Node: f.Node}
	ttl, margin, t := f.TTL.Duration, f.Margin.Duration, f.Watchdog.Accepted.Duration
	if t == 0 {
		t = fence.WatchdogTimeout(ttl, margin)
	}
	renew, retry := ttl/dlm.RenewDivisor, ttl/dlm.RetryDivisor
	stall := EtcdRequestTimeout + 2*f.ElectionTimeout.Duration
	switch {
	case f.Watchdog.Device != "" && t < time.Second:
		r.Status = StatusFail
		r.Detail = fmt.Sprintf("TTL %s, margin %s: no watchdog timeout of a second fits (the fence point keeps the margin plus %d timeouts before the lease expires)", ttl, margin, fence.FenceTimeouts)
		r.Advice = "raise leases.ttl or lower leases.watchdog_margin (with a 2s margin, a TTL of 7s or more)"
	case !fence.Healthy(ttl, renew, retry, margin, t):
		r.Status = StatusFail
		r.Detail = fmt.Sprintf("TTL %s, margin %s, watchdog %s: a session renewed on schedule would reach its fence point", ttl, margin, t)
		r.Advice = fmt.Sprintf("keep leases.watchdog_margin plus %d watchdog timeouts below TTL - TTL/6 - TTL/12 (with a 2s margin, a TTL of 7s or more)", fence.FenceTimeouts)
	case f.Engine == config.EngineCluster && ttl <= stall:
		r.Status = StatusFail
		r.Detail = fmt.Sprintf("TTL %s is not above the %s a renewal may wait after an etcd leader crash (request timeout %s + 2 × election %s): every survivor would lose its session", ttl, stall, EtcdRequestTimeout, f.ElectionTimeout)
		r.Advice = fmt.Sprintf("raise leases.ttl above %s (15s is the default)", stall)
	default:
		r.Status = StatusOK
		r.Detail = fmt.Sprintf("TTL %s, margin %s, watchdog %s: a dead node's arrays move after about the TTL; a node cut off is reset at least %s before", ttl, margin, t, margin)
	}
	return r
}
