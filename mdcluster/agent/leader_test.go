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
