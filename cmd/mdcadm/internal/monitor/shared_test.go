package monitor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/md"
)

// leases is an in-memory stand-in for the agents' delivery lease and cursor of one array: one
// holder at a time, granted in turn, the cursor guarded by token and revision.
type leases struct {
	mu     sync.Mutex
	holder string
	token  uint64
	cursor []byte
	rev    int64
	// failSaves makes a node's saves fail after that many more succeed (-1: never).
	failSaves map[string]int
}

type leaseClient struct {
	l    *leases
	node string
}

func (c leaseClient) HoldMonitor(ctx context.Context, _ api.MonitorHoldRequest, fn func(api.MonitorGrant) error) error {
	l := c.l
	var tok uint64
	for {
		l.mu.Lock()
		if l.holder == "" {
			l.holder, l.token = c.node, l.token+1
			tok = l.token
			g := api.MonitorGrant{Token: tok, Rev: l.rev, Cursor: l.cursor}
			l.mu.Unlock()
			_ = fn(g)
			break
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Millisecond):
		}
	}
	<-ctx.Done()
	l.mu.Lock()
	if l.holder == c.node && l.token == tok {
		l.holder = ""
	}
	l.mu.Unlock()
	return nil
}

func (c leaseClient) SaveCursor(_ context.Context, r api.CursorRequest) (api.CursorReply, error) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.failSaves[c.node]; ok {
		if n == 0 {
			return api.CursorReply{}, fmt.Errorf("agent unreachable")
		}
		l.failSaves[c.node] = n - 1
	}
	if l.holder != c.node || l.token != r.Token || l.rev != r.Rev {
		return api.CursorReply{}, &api.RemoteError{Code: 409, Body: api.Error{Error: "moved"}}
	}
	l.rev++
	l.cursor = append([]byte(nil), r.Cursor...)
	return api.CursorReply{Rev: l.rev}, nil
}

// oneArray is a Reader showing one array, whatever its snapshot is now.
type oneArray struct {
	mu   sync.Mutex
	snap Snapshot
}

func (r *oneArray) set(s Snapshot) { r.mu.Lock(); r.snap = s; r.mu.Unlock() }
func (r *oneArray) Mdstat() []md.MdstatEntry {
	return []md.MdstatEntry{{Devnm: "md127", Percent: percentNone}}
}
func (r *oneArray) Look(string, []md.MdstatEntry) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}
func (r *oneArray) UUID(string) string    { return "a1:b2:c3:d4" }
func (r *oneArray) DevName(string) string { return "/dev/md127" }
func (r *oneArray) Clustered(string) bool { return true }

// delivered records what reached the alert program of every node, in order.
type delivered struct {
	mu  sync.Mutex
	log []string
}

func (d *delivered) add(s string) { d.mu.Lock(); d.log = append(d.log, s); d.mu.Unlock() }
func (d *delivered) get() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.log)
}

// node is one node's monitor of the shared array.
type node struct {
	m      *Monitor
	cancel context.CancelFunc
	ctx    context.Context
}

func newNode(t *testing.T, name string, l *leases, r Reader, d *delivered) *node {
	ctx, cancel := context.WithCancel(t.Context())
	sh := &Shared{Client: leaseClient{l, name}, Node: name,
		Alert: &Alerter{Stdout: io.Discard, Warn: io.Discard, Now: time.Now}, Warn: io.Discard,
		Report: func(ev Event, _, id string) { d.add(fmt.Sprintf("%s %s %s %s", name, id, ev.Name, ev.Disc)) }}
	sh.Start(ctx)
	m := &Monitor{Opt: Options{Scan: true, Increments: 20}, Read: r, Alert: sh.Alert, Shared: sh, Warn: io.Discard}
	m.init()
	return &node{m: m, cancel: cancel, ctx: ctx}
}

// lookUntil runs rounds until the node holds the lease (or 5 s passed).
func (n *node) look(t *testing.T) {
	t.Helper()
	n.m.look(n.ctx, false)
}

func (n *node) holds() bool {
	for _, h := range n.m.Shared.holds {
		h.mu.Lock()
		g := h.granted
		h.mu.Unlock()
		if g {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for range 2500 {
		if f() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// Two nodes watch one md-cluster array: its events reach one alert program, not two; when that
// node dies the other takes over from the cursor — what changed meanwhile is reported once,
// nothing before it again, and no NewArray for an array the cluster already knew.
func TestSharedDeliveredOnce(t *testing.T) {
	l := &leases{}
	r := &oneArray{}
	r.set(raid1(100, percentNone, inSync, inSync))
	d := &delivered{}
	n1 := newNode(t, "node1", l, r, d)
	n1.look(t) // --scan finds the array
	eventually(t, "node1 holds the lease", n1.holds)
	n2 := newNode(t, "node2", l, r, d)
	n2.look(t)
	for _, n := range []*node{n1, n2} {
		n.look(t)
	}
	r.set(raid1(101, percentNone, inSync, faulty))
	for _, n := range []*node{n1, n2, n1, n2} {
		n.look(t)
	}
	want := []string{"node1 a1:b2:c3:d4:1 NewArray ", "node1 a1:b2:c3:d4:2 Fail /dev/vdb"}
	if got := d.get(); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	n1.cancel() // node1 dies: its request for the lease ends
	r.set(raid1(102, percentNone, inSync, diskRemoved, spare))
	r.set(raid1(103, 5, inSync, diskRemoved, spare))
	eventually(t, "node2 takes the lease over", n2.holds)
	n2.look(t)
	r.set(raid1(104, percentNone, inSync, diskRemoved, inSync))
	n2.look(t)
	want = append(want, "node2 a1:b2:c3:d4:3 RebuildStarted ", "node2 a1:b2:c3:d4:4 RebuildFinished ", "node2 a1:b2:c3:d4:5 SpareActive /dev/vdc")
	if got := d.get(); !slices.Equal(got, want) {
		t.Fatalf("after the takeover %q, want %q", got, want)
	}
}

// A holder that dies between delivering an event and saving the cursor without it: its
// successor delivers that one event again, with the same id; a holder whose commit cannot be
// saved delivers nothing.
func TestSharedPendingAfterDeath(t *testing.T) {
	l := &leases{failSaves: map[string]int{}}
	r := &oneArray{}
	r.set(raid1(100, percentNone, inSync, inSync))
	d := &delivered{}
	n1 := newNode(t, "node1", l, r, d)
	n1.look(t)
	eventually(t, "node1 holds the lease", n1.holds)
	n1.look(t) // NewArray delivered, cursor saved
	l.mu.Lock()
	l.failSaves["node1"] = 0 // the agent stops answering: the commit fails
	l.mu.Unlock()
	r.set(raid1(101, percentNone, inSync, faulty))
	n1.look(t)
	if got := d.get(); len(got) != 1 {
		t.Fatalf("delivered without a commit: %q", got)
	}
	l.mu.Lock()
	l.failSaves["node1"] = 1 // the commit succeeds, the save after the delivery does not
	l.mu.Unlock()
	n1.look(t)
	n1.cancel()
	n2 := newNode(t, "node2", l, r, d)
	n2.look(t)
	eventually(t, "node2 takes the lease over", n2.holds)
	n2.look(t)
	want := []string{"node1 a1:b2:c3:d4:1 NewArray ", "node1 a1:b2:c3:d4:2 Fail /dev/vdb", "node2 a1:b2:c3:d4:2 Fail /dev/vdb"}
	if got := d.get(); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}
