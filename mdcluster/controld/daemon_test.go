package controld

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/memlock"
	"mdcluster.dev/mdcluster/md"
)

// node is one daemon on a fake kernel tree, riding a session of a memlock service shared by
// every node of the test.
type node struct {
	id     int
	fs     ConfigFS
	uev    chan md.LockspaceEvent
	eng    *memlock.Engine
	sess   *memlock.Session
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

func newNode(t *testing.T, svc *memlock.Service, id int, fence string) *node {
	t.Helper()
	fs := fakeFS(t)
	if _, err := fs.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	fs.fakeComms(t)
	n := &node{id: id, fs: fs, uev: make(chan md.LockspaceEvent), eng: svc.Engine()}
	n.sess = n.open(t)
	n.start(t, fence)
	return n
}

func (n *node) open(t *testing.T) *memlock.Session {
	t.Helper()
	s, err := n.eng.Open(context.Background(), dlm.WithTTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (n *node) config(fence string) Config {
	return Config{Cluster: "mdlab", NodeID: n.id, Address: net.IPv4(10, 0, 0, byte(n.id)),
		FenceWait: time.Millisecond, FenceCommand: fence, Prefix: "/t/controld/", FS: n.fs}
}

func (n *node) start(t *testing.T, fence string) {
	t.Helper()
	n.startWith(t, n.config(fence))
}

func (n *node) startWith(t *testing.T, cfg Config) {
	t.Helper()
	n.d = New(cfg, n.uev)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.d.Run(ctx, n.sess) }()
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
	n.uev <- md.LockspaceEvent{Action: "online", Lockspace: ls}
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
	svc := memlock.NewService()
	fenced := filepath.Join(t.TempDir(), "fenced")
	n1 := newNode(t, svc, 1, "echo $FENCE_NODE_ID $FENCE_NODE_ADDRESS >> "+fenced)
	n2 := newNode(t, svc, 2, "")
	const ls = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	eventually(t, "node1 has comms for node2", func() bool { c, _ := n1.fs.Comms(); return reflect.DeepEqual(c, []int{1, 2}) })
	n1.online(t, ls)
	eventually(t, "node1 joined alone", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	n2.online(t, ls)
	eventually(t, "node2 joined with node1", func() bool { return reflect.DeepEqual(members(n2.fs, ls), []int{1, 2}) })
	eventually(t, "node1 added node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	for _, n := range []*node{n1, n2} {
		// The join's last write is event_done; the members come first.
		eventually(t, fmt.Sprintf("node%d told the kernel the join is done", n.id), func() bool {
			_, err := os.Stat(filepath.Join(n.fs.Sys, ls, "event_done"))
			return err == nil
		})
		id := readFile(t, filepath.Join(n.fs.Sys, ls, "id"))
		if id != fmt.Sprint(lockspaceID(ls)) {
			t.Errorf("node%d: lockspace id %s", n.id, id)
		}
	}
	// node2 dies: its session expires, all its keys at once.
	n2.stop()
	n2.sess.Expire()
	eventually(t, "node1 removed node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	if c, _ := n1.fs.Comms(); !reflect.DeepEqual(c, []int{1}) {
		t.Errorf("comms after the failure = %v, want node2's gone", c)
	}
	if got := readFile(t, fenced); got != "2 10.0.0.2\n" {
		t.Errorf("fence command ran with %q", got)
	}
	// node2 returns: comms again, and it rejoins.
	n2b := newNode(t, svc, 2, "")
	eventually(t, "node1 remade comms/2", func() bool { c, _ := n1.fs.Comms(); return reflect.DeepEqual(c, []int{1, 2}) })
	n2b.online(t, ls)
	eventually(t, "node1 re-added node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	// A clean leave is no failure: no fencing.
	n2b.uev <- md.LockspaceEvent{Action: "offline", Lockspace: ls}
	eventually(t, "node1 saw node2 leave", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	if got := readFile(t, fenced); strings.Count(got, "\n") != 1 {
		t.Errorf("fence command ran for a clean leave: %q", got)
	}
	if c, _ := n1.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2}) {
		t.Errorf("comms after a clean leave = %v", c)
	}
}

// TestRestartAdoptsSessionAndLockspaces is an agent killed and restarted within its TTL: the new
// process resumes the session and the daemon adopts the lockspaces; nobody sees a failure.
func TestRestartAdoptsSessionAndLockspaces(t *testing.T) {
	svc := memlock.NewService()
	n1 := newNode(t, svc, 1, "")
	n2 := newNode(t, svc, 2, "")
	const ls = "mdlab"
	n1.online(t, ls)
	n2.online(t, ls)
	eventually(t, "both joined", func() bool {
		return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) && reflect.DeepEqual(members(n2.fs, ls), []int{1, 2})
	})
	id := n1.sess.ID()
	n1.stop() // as after kill -9: the session lives on until its TTL
	n1.sess.Orphan()
	// The kernel stopped the lockspace when the monitor closed.
	if err := os.WriteFile(filepath.Join(n1.fs.Sys, ls, "control"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	resumed, err := n1.eng.Resume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n1.sess = resumed.(*memlock.Session)
	t.Cleanup(func() { resumed.Close() })
	n1.start(t, "")
	eventually(t, "restarted node1 started the lockspace again", func() bool {
		b, _ := os.ReadFile(filepath.Join(n1.fs.Sys, ls, "control"))
		return string(b) == "1"
	})
	if !reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) || !reflect.DeepEqual(members(n2.fs, ls), []int{1, 2}) {
		t.Errorf("members after the restart: node1 %v, node2 %v", members(n1.fs, ls), members(n2.fs, ls))
	}
	if c, _ := n2.fs.Comms(); !reflect.DeepEqual(c, []int{1, 2}) {
		t.Errorf("node2 treated node1's restart as a failure: comms %v", c)
	}
}

// TestConcurrentJoins has three nodes join one lockspace at once: whatever order the store puts the
// joins in, every node ends with the same member set.
func TestConcurrentJoins(t *testing.T) {
	svc := memlock.NewService()
	var nodes []*node
	for id := 1; id <= 3; id++ {
		nodes = append(nodes, newNode(t, svc, id, ""))
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
				n.uev <- md.LockspaceEvent{Action: "online", Lockspace: ls}
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

// flakySession fails the store's reads of one prefix while armed: a store error in the middle
// of a join, after the member key is written.
type flakySession struct {
	*memlock.Session
	prefix string
	armed  atomic.Bool
}

func (s *flakySession) Store() dlm.Store { return flakyStore{s.Session.Store(), s} }

type flakyStore struct {
	dlm.Store
	s *flakySession
}

func (f flakyStore) Get(ctx context.Context, prefix string, rev int64) ([]dlm.KeyValue, int64, error) {
	if f.s.armed.Load() && strings.HasPrefix(prefix, f.s.prefix) {
		return nil, 0, errors.New("injected store error")
	}
	return f.Store.Get(ctx, prefix, rev)
}

// TestFailedJoinAnswersTheKernel: a store error in the middle of a join fails the kernel's join
// (a non-zero event_done: mdadm gets an error instead of hanging for good), takes the member
// key back (the peer never adds this node) and leaves no configfs space; the same join works
// once the store does.
func TestFailedJoinAnswersTheKernel(t *testing.T) {
	svc := memlock.NewService()
	n1 := newNode(t, svc, 1, "")
	n2 := &node{id: 2, fs: fakeFS(t), uev: make(chan md.LockspaceEvent), eng: svc.Engine()}
	if _, err := n2.fs.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	n2.fs.fakeComms(t)
	n2.sess = n2.open(t)
	flaky := &flakySession{Session: n2.sess, prefix: "/t/controld/ls/"}
	n2.d = New(n2.config(""), n2.uev)
	ctx, cancel := context.WithCancel(context.Background())
	n2.cancel, n2.done = cancel, make(chan error, 1)
	go func() { n2.done <- n2.d.Run(ctx, flaky) }()
	t.Cleanup(n2.stop)

	const ls = "mdlab"
	eventually(t, "node2 has comms for node1", func() bool { c, _ := n2.fs.Comms(); return reflect.DeepEqual(c, []int{1, 2}) })
	n1.online(t, ls)
	eventually(t, "node1 joined alone", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	flaky.armed.Store(true)
	n2.online(t, ls)
	done := filepath.Join(n2.fs.Sys, ls, "event_done")
	eventually(t, "node2 answered the kernel's join", func() bool { _, err := os.Stat(done); return err == nil })
	if got := readFile(t, done); got != "-11" {
		t.Errorf("event_done after a failed join = %q, want -11 (EAGAIN)", got)
	}
	if _, err := os.Stat(filepath.Join(n2.fs.Cluster, "spaces", ls)); !os.IsNotExist(err) {
		t.Errorf("configfs space after a failed join: %v, want none", err)
	}
	kvs, _, err := n1.sess.Store().Get(context.Background(), "/t/controld/ls/", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if strings.HasSuffix(kv.Key, "/2") {
			t.Errorf("node2's member key %s outlived its failed join", kv.Key)
		}
	}
	eventually(t, "node1 took node2 out again (or never added it)", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	// The store is back: the same join (the kernel's next attempt) works.
	flaky.armed.Store(false)
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	n2.online(t, ls)
	eventually(t, "node2 joined with node1", func() bool { return reflect.DeepEqual(members(n2.fs, ls), []int{1, 2}) })
	eventually(t, "node1 added node2", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	eventually(t, "node2 told the kernel the join is done", func() bool { b, _ := os.ReadFile(done); return string(b) == "0" })
}

// TestAdoptDropsStaleMemberKey: a member key of this node's for a lockspace the kernel does not
// have (a failed join whose key could not be deleted then) is deleted when the control plane
// starts, so peers do not keep this node in that lockspace.
func TestAdoptDropsStaleMemberKey(t *testing.T) {
	svc := memlock.NewService()
	n := &node{id: 1, fs: fakeFS(t), uev: make(chan md.LockspaceEvent), eng: svc.Engine()}
	if _, err := n.fs.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	n.fs.fakeComms(t)
	n.sess = n.open(t)
	const key = "/t/controld/ls/gone/1"
	if _, err := n.sess.Store().Put(context.Background(), key, nil); err != nil {
		t.Fatal(err)
	}
	n.start(t, "")
	eventually(t, "the stale member key is deleted", func() bool {
		kvs, _, err := n.sess.Store().Get(context.Background(), key, 0)
		return err == nil && len(kvs) == 0
	})
}
