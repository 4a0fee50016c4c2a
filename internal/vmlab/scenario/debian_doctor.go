package scenario

import (
	"context"
	"fmt"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/doctor"
)

// Doctor scenarios on the production topology (three Debian guests, etcd-cluster with TLS).

// DoctorHealthy runs `mdclusterd doctor` on every node (each publishes its facts; the first
// runs may warn that the others have not reported yet) and once more on node1: every row
// passes (ok, or skip where a check does not apply) and it exits 0.
func DoctorHealthy(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 3; n++ {
		rs, rc, err := Doctor(ctx, l, n, "")
		if err != nil {
			return err
		}
		if rc != 0 {
			logResults(l, n, rs)
			return fmt.Errorf("node%d: doctor on a healthy cluster: exit %d", n, rc)
		}
	}
	rs, rc, err := Doctor(ctx, l, 1, "")
	if err != nil {
		return err
	}
	logResults(l, 1, rs)
	for _, r := range rs {
		if r.Status != doctor.StatusOK && r.Status != doctor.StatusSkip {
			return fmt.Errorf("healthy cluster: %s on %s is %s: %s", r.Check, r.Node, r.Status, r.Detail)
		}
	}
	if rc != 0 {
		return fmt.Errorf("healthy cluster: doctor exited %d", rc)
	}
	return nil
}

func logResults(l *vmlab.Lab, n int, rs []doctor.Result) {
	for _, r := range rs {
		l.Logf("node%d doctor: %-16s %-7s %-5s %s", n, r.Check, r.Node, r.Status, r.Detail)
	}
}

// Breakage is one broken set-up: Break and Undo run on Node; the doctor then runs on Node
// (and, for a cluster-wide check, once more on RunOn, after Node published its facts); the
// check Check of node Row must fail with advice, and the run exit 1.
type Breakage struct {
	Name        string
	Node        int
	Break, Undo string
	Args        string // doctor's arguments (e.g. --config of a changed copy)
	Check, Row  string
	RunOn       int // 0: Node
}

// DoctorBroken applies each breakage in turn, checks the doctor's verdict, and undoes it.
func DoctorBroken(ctx context.Context, l *vmlab.Lab, cases []Breakage) error {
	for _, c := range cases {
		if _, err := step(ctx, l, c.Node, slow, "break: "+c.Name, c.Break); err != nil {
			return err
		}
		rs, rc, err := Doctor(ctx, l, c.Node, c.Args)
		if err == nil && c.RunOn != 0 {
			rs, rc, err = Doctor(ctx, l, c.RunOn, "")
		}
		if err != nil {
			return err
		}
		var hit *doctor.Result
		for i, r := range rs {
			if r.Check == c.Check && r.Node == c.Row && r.Status == doctor.StatusFail {
				hit = &rs[i]
			}
		}
		if hit == nil || hit.Advice == "" || rc != 1 {
			logResults(l, c.Node, rs)
			return fmt.Errorf("%s: want %s on %s to fail with advice and exit 1 (exit %d)", c.Name, c.Check, c.Row, rc)
		}
		l.Logf("broken: %s -> %s on %s: FAIL %s | what to do: %s", c.Name, c.Check, c.Row, hit.Detail, hit.Advice)
		// The node publishes its healthy facts again for the next case.
		if _, err := step(ctx, l, c.Node, slow, "undo: "+c.Name, c.Undo+"\nmdclusterd doctor >/dev/null; true"); err != nil {
			return err
		}
	}
	return nil
}

// DoctorBreakages are the broken set-ups of the production topology with the RAID5 (uuid5)
// and the clustered RAID1 configured; holder runs the RAID5 (it is left alone where a breakage
// stops an agent).
func DoctorBreakages(uuid5 string, holder int) []Breakage {
	other := func(k int) int { // the k-th node that is not the holder
		for n := 1; n <= 3; n++ {
			if n != holder {
				if k--; k < 0 {
					return n
				}
			}
		}
		return 0
	}
	a, b := other(0), other(1)
	cfg := "/etc/mdcluster/mdclusterd.yaml"
	return []Breakage{
		{Name: "raid10 cannot be loaded", Node: a, Check: "modules", Row: nodeName(a),
			Break: "rmmod raid10 2>/dev/null; echo 'install raid10 /bin/false' > /etc/modprobe.d/broken.conf", Undo: "rm /etc/modprobe.d/broken.conf"},
		{Name: "another process holds the watchdog", Node: b, Check: "watchdog", Row: nodeName(b),
			// The stand-in pets it (the agent left the driver at a short timeout) for 20 s, then
			// closes it with the magic character.
			Break: "systemctl stop mdclusterd\n(exec 3>/dev/watchdog; for i in $(seq 1 40); do printf . >&3; sleep 0.5; done; printf V >&3) >/dev/null 2>&1 &\nsleep 1",
			Undo:  "sleep 22; systemctl start mdclusterd && for i in $(seq 1 300); do mdclusterd status >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1"},
		{Name: "udev rule masked", Node: a, Check: "udev", Row: nodeName(a),
			Break: "ln -s /dev/null /etc/udev/rules.d/63-mdcluster.rules", Undo: "rm /etc/udev/rules.d/63-mdcluster.rules"},
		{Name: "mdadm.conf lists the exclusive array", Node: b, Check: "mdadm.conf", Row: nodeName(b),
			Break: "cp /etc/mdadm/mdadm.conf /tmp/mdadm.conf.ok && echo 'ARRAY /dev/md/data metadata=1.2 UUID=" + uuid5 + "' >> /etc/mdadm/mdadm.conf",
			Undo:  "cp /tmp/mdadm.conf.ok /etc/mdadm/mdadm.conf"},
		{Name: "no ARRAY <ignore> line: the initramfs would assemble the RAID5", Node: a, Check: "mdadm.conf", Row: nodeName(a),
			Break: "cp /etc/mdadm/mdadm.conf /tmp/mdadm.conf.ok && sed -i '/^ARRAY <ignore>/d' /etc/mdadm/mdadm.conf",
			Undo:  "cp /tmp/mdadm.conf.ok /etc/mdadm/mdadm.conf"},
		{Name: "a member path that does not exist", Node: a, Check: "devices data", Row: nodeName(a),
			Break: "cp " + cfg + " /tmp/cfg.ok && sed -i 's|virtio-mdlab2]|virtio-mdlab9]|' " + cfg, Undo: "cp /tmp/cfg.ok " + cfg},
		{Name: "a path naming another disk on one node", Node: b, Check: "same disks data", Row: "cluster", RunOn: holder,
			Break: "ln -sfn ../../vdb /dev/disk/by-id/virtio-mdlab0",
			Undo:  "ln -sfn ../../vda /dev/disk/by-id/virtio-mdlab0"},
		{Name: "another cluster name", Node: a, Check: "cluster name", Row: "cluster", RunOn: holder,
			Break: "cp " + cfg + " /tmp/cfg.ok && sed -i 's|cluster: {name: mdlab}|cluster: {name: other}|' " + cfg,
			Undo:  "cp /tmp/cfg.ok " + cfg},
		{Name: "a clock 5 s ahead", Node: b, Check: "clock", Row: nodeName(b),
			// To the microsecond: whole seconds left the clock up to 1 s off after the undo, which
			// the healthy run after the breakages then warned about.
			Break: `date -s "@$(date +%s.%N | awk '{printf "%.6f", $1 + 5}')" >/dev/null`,
			Undo:  `date -s "@$(date +%s.%N | awk '{printf "%.6f", $1 - 5}')" >/dev/null`},
		{Name: "a TTL shorter than etcd's leader failover", Node: a, Check: "timing", Row: nodeName(a),
			Break: "sed 's|ttl: 30s, watchdog: /dev/watchdog, watchdog_margin: 5s|ttl: 7s, watchdog: /dev/watchdog, watchdog_margin: 2s|' " + cfg + " > /tmp/short.yaml && chmod 600 /tmp/short.yaml && grep -q 'ttl: 7s' /tmp/short.yaml",
			Args:  "--config /tmp/short.yaml", Undo: "rm /tmp/short.yaml"},
	}
}

func nodeName(n int) string { return fmt.Sprintf("node%d", n) }

// DoctorNoQuorum stops the agents of node2 and node3 (nothing runs yet: no node is protected,
// so none resets) and checks that node1's doctor reports the lock service without quorum.
func DoctorNoQuorum(ctx context.Context, l *vmlab.Lab) error {
	ready, err := journalCount(ctx, l, 1, "mdclusterd", "dlm control plane ready")
	if err != nil {
		return err
	}
	for _, n := range []int{2, 3} {
		if err := systemctlAgent(ctx, l, n, "stop"); err != nil {
			return err
		}
	}
	rs, rc, err := Doctor(ctx, l, 1, "")
	if err != nil {
		return err
	}
	ok := false
	for _, r := range rs {
		if r.Check == "lock service" && r.Node == "node1" && r.Status == doctor.StatusFail && r.Advice != "" {
			ok = true
			l.Logf("broken: two of three agents stopped -> lock service on node1: FAIL %s | what to do: %s", r.Detail, r.Advice)
		}
	}
	if !ok || rc != 1 {
		logResults(l, 1, rs)
		return fmt.Errorf("no quorum: want the lock service on node1 to fail (exit %d)", rc)
	}
	for _, n := range []int{2, 3} {
		if err := systemctlAgent(ctx, l, n, "start"); err != nil {
			return err
		}
	}
	// node1's agent lost its session with the quorum: its control plane comes back with the next.
	_, err = step(ctx, l, 1, slow, "node1's DLM control plane ready again", fmt.Sprintf(`for i in $(seq 1 600); do
  [ "$(journalctl -b -u mdclusterd -o cat | grep -c 'dlm control plane ready')" -gt %d ] && exit 0; sleep 0.2; done; exit 1`, ready))
	return err
}
