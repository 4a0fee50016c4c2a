package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/doctor"
)

// The production topology on three Debian guests: the agents form the etcd cluster (one member
// each, on the private network) with mutual TLS between members and clients, certificates made
// with `mdclusterd tls`; the agents run the kernel DLM.

// ProdOptions: three Debian guests, no host etcd, the six shared disks.
var ProdOptions = vmlab.Options{Nodes: 3, Disks: 6, DiskSize: 64 << 20, Debian: true}

// ProdConfig is node n's configuration; raft adds lock_engine keys (e.g. "election_timeout: 500ms").
func ProdConfig(n int, ttl, margin, raft, arrays string) string {
	if arrays == "" {
		arrays = "  []\n"
	}
	if raft != "" {
		raft = "  " + raft + "\n"
	}
	return fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine:
  type: etcd-cluster
  client_url: https://127.0.0.1:2379
  peers:
    - {name: node1, peer_url: "https://192.168.100.1:2380"}
    - {name: node2, peer_url: "https://192.168.100.2:2380"}
    - {name: node3, peer_url: "https://192.168.100.3:2380"}
  tls: {ca: /etc/mdcluster/tls/ca.crt, cert: /etc/mdcluster/tls/node.crt, key: /etc/mdcluster/tls/node.key}
%[5]sleases: {ttl: %[2]s, watchdog: /dev/watchdog, watchdog_margin: %[3]s}
dlm_control: {mode: mdclusterd}
listen: {metrics: ""}
arrays:
%[4]s`, n, ttl, margin, arrays, raft)
}

// ProdCertificates makes the cluster CA on node1 and every node's certificate, and copies each
// node's to its /etc/mdcluster/tls.
func ProdCertificates(ctx context.Context, l *vmlab.Lab) error {
	if _, err := step(ctx, l, 1, quick, "mdclusterd tls init-ca, issue node1..3", `set -e
mdclusterd tls init-ca /root/mdcluster-ca
for n in 1 2 3; do mdclusterd tls issue --ca /root/mdcluster-ca --out /root/node$n-tls node$n 192.168.100.$n; done
mkdir -p /etc/mdcluster && rm -rf /etc/mdcluster/tls && cp -r /root/node1-tls /etc/mdcluster/tls`); err != nil {
		return err
	}
	for n := 2; n <= 3; n++ {
		if err := copyTree(ctx, l, 1, fmt.Sprintf("/root/node%d-tls", n), n, "/etc/mdcluster/tls"); err != nil {
			return err
		}
	}
	return nil
}

// StartProd writes every node's configuration and starts the three agents at once (each etcd
// member waits for a second one), then waits until each answers.
func StartProd(ctx context.Context, l *vmlab.Lab, cfg func(n int) string) error {
	errs := make(chan error, 3)
	for n := 1; n <= 3; n++ {
		go func(n int) {
			if err := writeConfig(ctx, l, n, cfg(n)); err != nil {
				errs <- err
				return
			}
			errs <- systemctlAgent(ctx, l, n, "restart")
		}(n)
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// Doctor runs `mdclusterd doctor --json` on node and returns its results and exit code.
func Doctor(ctx context.Context, l *vmlab.Lab, node int, args string) ([]doctor.Result, int, error) {
	r, err := l.Step(ctx, node, slow, "mdclusterd doctor "+args, "mdclusterd doctor --json "+args+"; echo \"rc=$?\" >&2")
	if err != nil {
		return nil, 0, err
	}
	var rs []doctor.Result
	if err := json.Unmarshal([]byte(r.Stdout), &rs); err != nil {
		return nil, 0, fmt.Errorf("node%d doctor --json: %w: %s", node, err, r.Stdout)
	}
	rc := -1
	for _, ln := range vmlab.Lines(r.Stderr) {
		fmt.Sscanf(ln, "rc=%d", &rc)
	}
	return rs, rc, nil
}

// etcdLeader is the etcd member leading, as node's member sees it (mdlab etcd leader).
func etcdLeader(ctx context.Context, l *vmlab.Lab, node int) (string, error) {
	return step(ctx, l, node, quick, "etcd leader", "mdlab etcd leader")
}

// leaderOffHolder gives the holder's etcd member the leadership (as an election may), then
// waits until the holder's agent hands it to a node that holds nothing (dlm.LeaderMover: a crash
// of a holder that leads costs an election on top of the TTL) and returns how long that took.
// It then waits 5 s more: the new leader gives every lease a fresh TTL, and a renewal follows.
func leaderOffHolder(ctx context.Context, l *vmlab.Lab, holder int) (time.Duration, error) {
	at := 0
	for t := time.Now(); at == 0; time.Sleep(500 * time.Millisecond) {
		leader, err := etcdLeader(ctx, l, holder)
		if err == nil {
			fmt.Sscanf(leader, "node%d", &at)
		}
		if at == 0 && time.Since(t) > 30*time.Second {
			return 0, fmt.Errorf("etcd has no leader 30 s on (%q, %v)", leader, err)
		}
	}
	if at != holder {
		if _, err := step(ctx, l, at, quick, "hand etcd leadership to the holder node"+fmt.Sprint(holder), "mdlab etcd move-leader "+nodeName(holder)); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	var leader string
	var err error
	for {
		leader, err = etcdLeader(ctx, l, holder)
		if err == nil && leader != "" && leader != nodeName(holder) {
			break
		}
		if time.Since(t0) > 30*time.Second {
			return 0, fmt.Errorf("the holder node%d still leads etcd 30 s after it was given the leadership (%s, %v): its agent did not hand it on", holder, leader, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	moved := time.Since(t0)
	l.Logf("node%d's agent handed etcd's leadership to %s %.1fs after it was given it", holder, leader, moved.Seconds())
	time.Sleep(5 * time.Second)
	return moved, nil
}

// FailoverRound is one crash of the RAID5's holder on the production topology.
type FailoverRound struct {
	Holder int
	// Moved is how long the holder's agent took to hand on the etcd leadership it was given.
	Moved    time.Duration
	Failover time.Duration // crash to the array seen assembled elsewhere (sampled)
	// Granted and Started are the new holder's console lines (host-stamped) after the crash:
	// its agent granted the activation lease, and md started the array.
	Granted, Started time.Duration
}

// after returns how long after t0 node's console first showed text (0: never).
func after(l *vmlab.Lab, node int, text string, t0 time.Time) time.Duration {
	for _, ln := range l.Node(node).ConsoleMatching(text) {
		if ln.At.After(t0) {
			return ln.At.Sub(t0)
		}
	}
	return 0
}

// ProdFailover measures, rounds times, the time from the holder's crash to the array
// assembled on another node (host clock), after the holder's agent handed on the etcd
// leadership the round gave it; the crashed node boots again between rounds.
func ProdFailover(ctx context.Context, l *vmlab.Lab, uuid string, rounds int) ([]FailoverRound, error) {
	var out []FailoverRound
	for i := 0; i < rounds; i++ {
		holder, _, err := waitAssembledAnywhere(ctx, l, uuid, 3*time.Minute)
		if err != nil {
			return out, err
		}
		moved, err := leaderOffHolder(ctx, l, holder)
		if err != nil {
			return out, err
		}
		cctx, cancel := context.WithTimeout(ctx, quick)
		t0 := time.Now()
		err = l.Node(holder).Crash(cctx)
		cancel()
		if err != nil {
			return out, err
		}
		n, _, err := waitAssembledAnywhere(ctx, l, uuid, 3*time.Minute)
		if err != nil {
			return out, err
		}
		r := FailoverRound{Holder: holder, Moved: moved, Failover: time.Since(t0),
			Granted: after(l, n, "activation lease granted", t0), Started: after(l, n, "raid level 5 active", t0)}
		l.Logf("round %d: node%d (gave up etcd's leadership in %.1fs) crashed; node%d: lease granted +%.1fs, md started +%.1fs, seen assembled +%.1fs",
			i+1, holder, r.Moved.Seconds(), n, r.Granted.Seconds(), r.Started.Seconds(), r.Failover.Seconds())
		out = append(out, r)
		if _, err := l.Restart(ctx, holder); err != nil {
			return out, err
		}
		if _, err := step(ctx, l, holder, slow, "agent back", `for i in $(seq 1 300); do mdclusterd status >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1`); err != nil {
			return out, err
		}
	}
	return out, nil
}
