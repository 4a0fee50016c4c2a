package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/memlock"
	"mdcluster.dev/mdcluster/config"
)

// cluster is a lock service (memlock: etcdlock's semantics, in memory) shared by test nodes.
type cluster struct {
	t   *testing.T
	svc *memlock.Service
}

func newCluster(t *testing.T) *cluster { return &cluster{t: t, svc: memlock.NewService()} }

// tnode is one node's reconciler over its own md (captured trees) and its own client of the
// lock service.
type tnode struct {
	t      *testing.T
	c      *cluster
	name   string
	id     int
	eng    *memlock.Engine
	md     *testMD
	mdadm  *fakeMdadm
	cur    atomic.Pointer[session]
	gen    uint64
	rec    *Reconciler
	fence  atomic.Pointer[string]
	kicked chan string
	cancel context.CancelFunc
}

func (c *cluster) node(name string, id int, arrays ...config.Array) *tnode {
	t := c.t
	n := &tnode{t: t, c: c, name: name, id: id, eng: c.svc.Engine(), md: newTestMD(t), kicked: make(chan string, 64)}
	n.mdadm = &fakeMdadm{md: n.md, t: t, captures: captureOf}
	none := ""
	n.fence.Store(&none)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	t.Cleanup(func() {
		cancel()
		if s := n.cur.Load(); s != nil {
			_ = s.Close()
		}
	})
	n.rec = NewReconciler(ctx, Deps{Node: config.Node{Name: name, ID: id}, Resync: config.Resync{MaxConcurrent: 1},
		Prefix: "/mdcluster/", MD: n.md, Mdadm: n.mdadm, Paths: Paths{Run: t.TempDir()}, Log: discardLog(),
		Sessions: n.current, Fencing: func() string { return *n.fence.Load() },
		Kick: func(uuid string) {
			select {
			case n.kicked <- uuid:
			default:
			}
		}}, arrays)
	return n
}

func (n *tnode) current() *session {
	s := n.cur.Load()
	if s == nil || !s.valid() {
		return nil
	}
	return s
}

// open gives the node a new session.
func (n *tnode) open() *session {
	n.t.Helper()
	s, err := n.eng.NewSession(context.Background(), dlm.WithTTL(15*time.Second))
	if err != nil {
		n.t.Fatal(err)
	}
	n.gen++
	ss := newSession(s, n.gen, false)
	n.cur.Store(ss)
	return ss
}

// pass runs one pass over the array.
func (n *tnode) pass(uuid string) (Result, error) {
	n.t.Helper()
	return n.rec.Reconcile(context.Background(), uuid)
}

// mustPass runs a pass that must not fail.
func (n *tnode) mustPass(uuid string) Result {
	n.t.Helper()
	res, err := n.pass(uuid)
	if err != nil {
		n.t.Fatalf("%s: pass over %s: %v", n.name, uuid, err)
	}
	return res
}

// waitKick waits until a waiter asked for a pass over uuid.
func (n *tnode) waitKick(uuid string) {
	n.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case k := <-n.kicked:
			if k == uuid {
				return
			}
		case <-deadline:
			n.t.Fatalf("%s: no kick for %s", n.name, uuid)
		}
	}
}

func (n *tnode) view(uuid string) arrayView { return n.rec.array(uuid).getView() }

// holders names the sessions holding a resource in the lock service.
func (c *cluster) holders(res string) []dlm.Holder { return c.svc.Holders(res) }

func (n *tnode) assembled() int {
	k := 0
	for _, c := range n.mdadm.log() {
		if strings.HasPrefix(c, "--assemble") {
			k++
		}
	}
	return k
}

func (n *tnode) stops() int {
	k := 0
	for _, w := range n.md.log() {
		if strings.HasSuffix(w, " stop") {
			k++
		}
	}
	return k
}
