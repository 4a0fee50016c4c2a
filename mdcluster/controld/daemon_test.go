package controld

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm/etcdembed"
)

func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := etcdembed.Start(t.TempDir(), etcdembed.WithClientURLs(urls[0]), etcdembed.WithPeerURLs(urls[1]),
		etcdembed.WithLogLevel("error"), etcdembed.WithUnsafeNoFsync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	cli, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: m.ClientURLs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// chanSource is a uevent source fed by the test.
type chanSource chan Event

func (c chanSource) Next(ctx context.Context) (Event, error) {
	select {
	case ev := <-c:
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}
func (c chanSource) Close() error { return nil }

// node is one daemon on a fake kernel tree.
type node struct {
	id     int
	fs     ConfigFS
	uev    chanSource
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

func newNode(t *testing.T, cli *clientv3.Client, id int, lease string, fence string) *node {
	t.Helper()
	fs := fakeFS(t)
	if _, err := fs.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	fs.fakeComms(t)
	n := &node{id: id, fs: fs, uev: make(chanSource)}
	n.start(t, cli, lease, fence)
	return n
}

func (n *node) start(t *testing.T, cli *clientv3.Client, lease, fence string) {
	t.Helper()
	n.d = New(cli, Config{Cluster: "mdlab", NodeID: n.id, Address: net.IPv4(10, 0, 0, byte(n.id)),
		TTL: 5 * time.Second, FenceWait: time.Millisecond, FenceCommand: fence, Prefix: "/t/controld/",
		LeaseFile: lease, FS: n.fs, Uevents: func() (Source, error) { return n.uev, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.d.Run(ctx) }()
	t.Cleanup(n.stop)
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.d.Close()
	n.cancel = nil
}

// online plays the kernel: the lockspace appears in sysfs, then the join uevent comes.
func (n *node) online(t *testing.T, ls string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(n.fs.Sys, ls), 0o755); err != nil {
		t.Fatal(err)
	}
	n.uev <- Event{Action: "online", Lockspace: ls}
}

// eventually polls cond until it holds or the test's patience (not a timing claim) runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

func members(fs ConfigFS, ls string) []int { ids, _ := fs.Members(ls); return ids }

func TestJoinFailAndReturn(t *testing.T) {
	cli := startEtcd(t)
	fenced := filepath.Join(t.TempDir(), "fenced")
	n1 := newNode(t, cli, 1, "", "echo $FENCE_NODE_ID $FENCE_NODE_ADDRESS >> "+fenced)
	n2 := newNode(t, cli, 2, "", "")
	const ls = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	eventually(t, "node1 has comms for node2", func() bool { c, _ := n1.fs.Comms(); return reflect.DeepEqual(c, []int{1, 2}) })
	n1.online(t, ls)
	eventually(t, "node1 joined alone", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	n2.online(t, ls)
	eventually(t, "node2 joined with node1", func() bool { return reflect.DeepEqual(members(n2.fs, ls), []int{1, 2}) })
	eventually(t, "node1 added node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	for _, n := range []*node{n1, n2} {
		id := readFile(t, filepath.Join(n.fs.Sys, ls, "id"))
		if id != fmt.Sprint(LockspaceID(ls)) {
			t.Errorf("node%d: lockspace id %s", n.id, id)
		}
	}
	// node2 dies: its lease goes (revoked here, as expiry would) with all its keys at once.
	lease := n2.d.sess.Lease()
	n2.stop()
	if _, err := cli.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node1 removed node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	if c, _ := n1.fs.Comms(); !reflect.DeepEqual(c, []int{1}) {
		t.Errorf("comms after the failure = %v, want node2's gone", c)
	}
	if got := readFile(t, fenced); got != "2 10.0.0.2\n" {
		t.Errorf("fence command ran with %q", got)
	}
	// node2 returns: comms again, and it rejoins.
	n2b := newNode(t, cli, 2, "", "")
	eventually(t, "node1 remade comms/2", func() bool { c, _ := n1.fs.Comms(); return reflect.DeepEqual(c, []int{1, 2}) })
	n2b.online(t, ls)
	eventually(t, "node1 re-added node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	// A clean leave is no failure: no fencing.
	n2b.uev <- Event{Action: "offline", Lockspace: ls}
	eventually(t, "node1 saw node2 leave", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	if got := readFile(t, fenced); strings.Count(got, "\n") != 1 {
		t.Errorf("fence command ran for a clean leave: %q", got)
	}
	if c, _ := n1.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2}) {
		t.Errorf("comms after a clean leave = %v", c)
	}
}

func TestRestartAdoptsLeaseAndLockspaces(t *testing.T) {
	cli := startEtcd(t)
	leaseFile := filepath.Join(t.TempDir(), "lease")
	n1 := newNode(t, cli, 1, leaseFile, "")
	n2 := newNode(t, cli, 2, "", "")
	const ls = "mdlab"
	n1.online(t, ls)
	n2.online(t, ls)
	eventually(t, "both joined", func() bool {
		return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) && reflect.DeepEqual(members(n2.fs, ls), []int{1, 2})
	})
	lease := n1.d.sess.Lease()
	n1.stop() // as after kill -9: the lease lives on until its TTL
	// The kernel stopped the lockspace when the monitor closed.
	if err := os.WriteFile(filepath.Join(n1.fs.Sys, ls, "control"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	n1.start(t, cli, leaseFile, "")
	eventually(t, "restarted node1 started the lockspace again", func() bool {
		b, _ := os.ReadFile(filepath.Join(n1.fs.Sys, ls, "control"))
		return string(b) == "1"
	})
	if got := n1.d.sess.Lease(); got != lease {
		t.Errorf("restarted daemon has lease %x, want the resumed %x", got, lease)
	}
	if !reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) || !reflect.DeepEqual(members(n2.fs, ls), []int{1, 2}) {
		t.Errorf("members after the restart: node1 %v, node2 %v", members(n1.fs, ls), members(n2.fs, ls))
	}
	if c, _ := n2.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2}) {
		t.Errorf("node2 treated node1's restart as a failure: comms %v", c)
	}
}

// TestConcurrentJoins has three nodes join one lockspace at once: whatever order etcd puts the
// joins in, every node ends with the same member set.
func TestConcurrentJoins(t *testing.T) {
	cli := startEtcd(t)
	var nodes []*node
	for id := 1; id <= 3; id++ {
		nodes = append(nodes, newNode(t, cli, id, "", ""))
	}
	eventually(t, "every node has comms for all", func() bool {
		for _, n := range nodes {
			if c, _ := n.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2, 3}) {
				return false
			}
		}
		return true
	})
	const ls = "mdlab"
	done := make(chan struct{})
	for _, n := range nodes {
		go func(n *node) {
			if err := os.MkdirAll(filepath.Join(n.fs.Sys, ls), 0o755); err == nil {
				n.uev <- Event{Action: "online", Lockspace: ls}
			}
			done <- struct{}{}
		}(n)
	}
	for range nodes {
		<-done
	}
	for _, n := range nodes {
		eventually(t, fmt.Sprintf("node%d has all three members", n.id), func() bool {
			return reflect.DeepEqual(members(n.fs, ls), []int{1, 2, 3})
		})
	}
}
