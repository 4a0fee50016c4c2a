package agent

import (
	"context"
	"errors"
	"testing"

	"mdcluster.dev/dlm"
)

// fakeLeader is a lock service whose leadership the test sets; it records the moves asked.
type fakeLeader struct {
	l     dlm.Leadership
	err   error
	moves []string
}

func (f *fakeLeader) Leadership(context.Context) (dlm.Leadership, error) { return f.l, nil }
func (f *fakeLeader) MoveLeader(_ context.Context, m string) error {
	f.moves = append(f.moves, m)
	return f.err
}

func TestLeaderTarget(t *testing.T) {
	three := []string{"node3", "node1", "node2"}
	all := map[string]bool{"node1": true, "node2": true, "node3": true}
	for _, c := range []struct {
		name    string
		l       dlm.Leadership
		holders map[string]bool
		live    map[string]bool
		want    string
	}{
		{"holder leads: the first free live node", dlm.Leadership{Self: "node1", Leader: "node1", Members: three}, map[string]bool{"node1": true}, all, "node2"},
		{"the free node's agent is not up", dlm.Leadership{Self: "node1", Leader: "node1", Members: three}, map[string]bool{"node1": true}, map[string]bool{"node1": true, "node3": true}, "node3"},
		{"every other node holds", dlm.Leadership{Self: "node1", Leader: "node1", Members: three}, all, all, ""},
		{"no agent elsewhere", dlm.Leadership{Self: "node1", Leader: "node1", Members: three}, map[string]bool{"node1": true}, map[string]bool{"node1": true}, ""},
		{"holds nothing", dlm.Leadership{Self: "node1", Leader: "node1", Members: three}, map[string]bool{"node2": true}, all, ""},
		{"another node leads", dlm.Leadership{Self: "node1", Leader: "node2", Members: three}, map[string]bool{"node1": true}, all, ""},
		{"the client's member is not this node's", dlm.Leadership{Self: "etcd-a", Leader: "node1", Members: three}, map[string]bool{"node1": true}, all, ""},
	} {
		got, ok := leaderTarget(c.l, "node1", c.holders, c.live)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: %q %v, want %q", c.name, got, ok, c.want)
		}
	}
}

// The node that holds the RAID5's activation lease and leads the lock service hands the
// leadership to the node whose agent waits for the array (a crash of the holder then costs no
// election on top of the TTL); that node, holding nothing, keeps it.
func TestMoveLeaderOffHolder(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	b := c.agent("node2", 2, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	b.start()
	eventually(t, "node2 waits", func() bool { return b.rec.array(raid5.UUID).getView().holder == "node1" })
	members := []string{"node1", "node2", "node3"} // node3's member runs no agent
	f := &fakeLeader{l: dlm.Leadership{Self: "node1", Leader: "node1", Members: members}}
	if err := a.moveLeaderOnce(context.Background(), f); err != nil || len(f.moves) != 1 || f.moves[0] != "node2" {
		t.Fatalf("holder leading: moves %v, err %v; want one to node2", f.moves, err)
	}
	if got := a.Counters().Actions["leader_moved"]; got != 1 {
		t.Errorf("leader_moved counted %d times", got)
	}
	fb := &fakeLeader{l: dlm.Leadership{Self: "node2", Leader: "node2", Members: members}}
	if err := b.moveLeaderOnce(context.Background(), fb); err != nil || len(fb.moves) != 0 {
		t.Fatalf("free node leading: moves %v, err %v; want none", fb.moves, err)
	}
	f = &fakeLeader{l: dlm.Leadership{Self: "node1", Leader: "node1", Members: members}, err: errors.New("etcdserver: request timed out")}
	if err := a.moveLeaderOnce(context.Background(), f); err == nil {
		t.Fatal("a failed move was not reported")
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
}

// sharedLeader is one lock service's leadership as every agent's client sees it: moves apply.
type sharedLeader struct {
	leader string
	moves  []string
}

type leaderView struct {
	self string
	sh   *sharedLeader
}

func (v leaderView) Leadership(context.Context) (dlm.Leadership, error) {
	return dlm.Leadership{Self: v.self, Leader: v.sh.leader, Members: []string{"node1", "node2", "node3"}}, nil
}

func (v leaderView) MoveLeader(_ context.Context, m string) error {
	v.sh.moves = append(v.sh.moves, m)
	v.sh.leader = m
	return nil
}

// Two holders whose configurations do not list each other's arrays (an N+1 standby shares each
// with one node) each took the other for free and passed the leadership back and forth, every
// move giving every lease its whole TTL again. Each agent now publishes whether it holds an
// activation lease: the leadership goes once, to the node that holds nothing, and stays there.
func TestMoveLeaderNoPingPong(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	b := c.agent("node2", 2, nil, t.TempDir(), raid1)
	n3 := c.agent("node3", 3, nil, t.TempDir())
	for _, x := range []*tagent{a, b, n3} {
		x.start()
	}
	eventually(t, "both hold", func() bool {
		return a.rec.array(raid5.UUID).getView().actHere && b.rec.array(raid1.UUID).getView().actHere
	})
	ctx := context.Background()
	for _, x := range []*tagent{a, b, n3} {
		x.publishHolding(ctx, published{})
	}
	sh := &sharedLeader{leader: "node1"}
	for range 4 {
		for _, x := range []*tagent{a, b, n3} {
			if err := x.moveLeaderOnce(ctx, leaderView{self: x.cfg.Node.Name, sh: sh}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(sh.moves) != 1 || sh.leader != "node3" {
		t.Fatalf("moves %v, leader %s: want one move, to node3", sh.moves, sh.leader)
	}
	for _, x := range []*tagent{a, b, n3} {
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
	}
}
