package doctor

import (
	"strings"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/config"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// healthy is node n's facts in a healthy three-node etcd-cluster with one exclusive RAID5.
func healthy(n string) Facts {
	d := func(p, dev string) DeviceFact {
		return DeviceFact{Path: p, Target: "/dev/vd" + dev, ArrayUUID: "fd4485b9:5882c440:166d447e:b3049159", DeviceUUID: "0000000" + dev + ":00000000:00000000:00000000"}
	}
	return Facts{Node: n, Cluster: "prod", Written: now.Add(-time.Minute), Engine: config.EngineCluster,
		TTL: Duration{15 * time.Second}, Margin: Duration{5 * time.Second}, ElectionTimeout: Duration{time.Second},
		Modules:   []ModuleFact{{Name: "md_mod"}, {Name: "raid456"}},
		Watchdog:  WatchdogFact{Device: "/dev/watchdog", Identity: "Software Watchdog", Want: Duration{2 * time.Second}, Accepted: Duration{2 * time.Second}, HeldBy: "mdclusterd (pid 400)"},
		Udev:      UdevFact{Rule: "/lib/udev/rules.d/63-mdcluster.rules", MdadmConfirm: "/lib/udev/rules.d/69-md-clustered-confirm-device.rules"},
		MdadmConf: MdadmConfFact{Files: []string{"/etc/mdadm/mdadm.conf"}},
		Arrays: []ArrayFact{{UUID: "fd4485b9:5882c440:166d447e:b3049159", Name: "data", Mode: config.ModeExclusive,
			Devices: []DeviceFact{d("/dev/disk/by-id/wwn-1", "a"), d("/dev/disk/by-id/wwn-2", "b"), d("/dev/disk/by-id/wwn-3", "c")}}},
		Lock:  LockFact{Endpoints: []string{"https://127.0.0.1:2379"}, Members: 3, Quorum: true, Latency: Duration{8 * time.Millisecond}, Max: Duration{20 * time.Millisecond}},
		Clock: []ClockFact{{Peer: "x", Offset: Duration{3 * time.Millisecond}, RTT: Duration{time.Millisecond}}},
	}
}

var nodes = []string{"node1", "node2", "node3"}

func cluster(change func(map[string]*Facts)) (Facts, []Facts) {
	m := map[string]*Facts{}
	for _, n := range nodes {
		f := healthy(n)
		m[n] = &f
	}
	if change != nil {
		change(m)
	}
	var rs []Facts
	for _, n := range nodes {
		rs = append(rs, *m[n])
	}
	return *m["node1"], rs
}

func TestEvaluateHealthy(t *testing.T) {
	self, reports := cluster(nil)
	rs := Evaluate(self, reports, nodes, now)
	for _, r := range rs {
		if r.Status != StatusOK {
			t.Errorf("%s on %s: %s %s (%s)", r.Check, r.Node, r.Status, r.Detail, r.Advice)
		}
	}
	// 8 rows per node (modules, watchdog, udev, mdadm.conf, devices, lock, clock, timing) and 2 for the cluster.
	if len(rs) != 3*8+2 || Failed(rs) {
		t.Errorf("%d rows, failed %v", len(rs), Failed(rs))
	}
}

// TestEvaluateBroken breaks one thing at a time: that check, on that node, fails with advice.
func TestEvaluateBroken(t *testing.T) {
	for _, tc := range []struct {
		name, check, node, detail string
		change                    func(map[string]*Facts)
	}{
		{"module", "modules", "node2", "raid10", func(m map[string]*Facts) {
			m["node2"].Modules = append(m["node2"].Modules, ModuleFact{Name: "raid10", Err: "modprobe raid10: install command failed"})
		}},
		{"no watchdog", "watchdog", "node1", "no such device", func(m map[string]*Facts) {
			m["node1"].Watchdog = WatchdogFact{Device: "/dev/watchdog", Err: "no such device"}
		}},
		{"watchdog held by systemd", "watchdog", "node3", "systemd (pid 1)", func(m map[string]*Facts) {
			m["node3"].Watchdog.HeldBy = "systemd (pid 1)"
		}},
		{"armed, unheld", "watchdog", "node1", "counting down", func(m map[string]*Facts) {
			m["node1"].Watchdog = WatchdogFact{Device: "/dev/watchdog", Armed: true}
		}},
		{"nowayout", "watchdog", "node2", "nowayout", func(m map[string]*Facts) {
			m["node2"].Watchdog = WatchdogFact{Device: "/dev/watchdog", NoWayOut: true}
		}},
		{"udev rule masked", "udev", "node2", "replaces", func(m map[string]*Facts) {
			m["node2"].Udev = UdevFact{Masked: "/etc/udev/rules.d/63-mdcluster.rules"}
		}},
		{"udev not applied", "udev", "node1", "wwn-2", func(m map[string]*Facts) {
			m["node1"].Udev.Undeferred = []string{"/dev/disk/by-id/wwn-2"}
		}},
		{"mdadm.conf lists", "mdadm.conf", "node3", "data", func(m map[string]*Facts) {
			m["node3"].MdadmConf.Listed = []string{"data (/etc/mdadm/mdadm.conf)"}
		}},
		{"initramfs assembles", "mdadm.conf", "node2", "ARRAY <ignore>", func(m map[string]*Facts) {
			m["node2"].MdadmConf.Initramfs = []string{"data"}
		}},
		{"initramfs older than mdadm.conf", "mdadm.conf", "node1", "changed after /boot/initrd.img", func(m map[string]*Facts) {
			m["node1"].MdadmConf.InitramfsStale = "/boot/initrd.img-6.1.0-57-amd64"
		}},
		{"device missing", "devices data", "node2", "no such device", func(m map[string]*Facts) {
			m["node2"].Arrays[0].Devices[1] = DeviceFact{Path: "/dev/disk/by-id/wwn-2", Err: "no such device"}
		}},
		{"another disk", "same disks data", "cluster", "node3 see 0000000a", func(m map[string]*Facts) {
			m["node3"].Arrays[0].Devices[1].DeviceUUID = m["node3"].Arrays[0].Devices[0].DeviceUUID
		}},
		{"cluster name", "cluster name", "cluster", `"other" on node2`, func(m map[string]*Facts) { m["node2"].Cluster = "other" }},
		{"no quorum", "lock service", "node1", "no leader", func(m map[string]*Facts) {
			m["node1"].Lock = LockFact{Endpoints: []string{"https://127.0.0.1:2379"}, Members: 3, Err: "linearizable read: etcdserver: no leader"}
		}},
		{"slow lock service", "lock service", "node2", "renewals would miss", func(m map[string]*Facts) {
			m["node2"].Lock.Max = Duration{2 * time.Second}
		}},
		{"clock", "clock", "node2", "+5.000s", func(m map[string]*Facts) {
			m["node2"].Clock = []ClockFact{{Peer: "node1", Offset: Duration{5 * time.Second}, RTT: Duration{time.Millisecond}}}
		}},
		{"ttl below etcd's failover", "timing", "node3", "every survivor would lose its session", func(m map[string]*Facts) {
			m["node3"].TTL, m["node3"].Margin, m["node3"].Watchdog.Accepted = Duration{7 * time.Second}, Duration{2 * time.Second}, Duration{time.Second}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self, reports := cluster(tc.change)
			rs := Evaluate(self, reports, nodes, now)
			var hit *Result
			for i, r := range rs {
				if r.Status == StatusFail && r.Check == tc.check && r.Node == tc.node {
					hit = &rs[i]
				}
			}
			if hit == nil {
				t.Fatalf("no failure of %s on %s in %+v", tc.check, tc.node, rs)
			}
			if !strings.Contains(hit.Detail, tc.detail) || hit.Advice == "" {
				t.Errorf("%s on %s: %q (advice %q), want it to mention %q and say what to do", tc.check, tc.node, hit.Detail, hit.Advice, tc.detail)
			}
			if !Failed(rs) {
				t.Error("Failed() is false")
			}
		})
	}
}

func TestEvaluateMissingReport(t *testing.T) {
	self, reports := cluster(func(m map[string]*Facts) { m["node3"].Node = "node9" })
	rs := Evaluate(self, reports, nodes, now)
	for _, r := range rs {
		if r.Check == "report" && r.Node == "node3" && r.Status == StatusWarn && strings.Contains(r.Detail, "no doctor report") {
			return
		}
	}
	t.Errorf("no missing-report warning for node3: %+v", rs)
}

func TestEvaluateStaleReport(t *testing.T) {
	self, reports := cluster(func(m map[string]*Facts) { m["node2"].Written = now.Add(-3 * time.Hour) })
	rs := Evaluate(self, reports, nodes, now)
	for _, r := range rs {
		if r.Check == "report" && r.Node == "node2" && r.Status == StatusWarn && strings.Contains(r.Detail, "3h0m0s") {
			return
		}
	}
	t.Errorf("no stale-report warning for node2: %+v", rs)
}
