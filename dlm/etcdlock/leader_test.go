package etcdlock

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every member's client sees the same leader and names itself; only the leader hands its role
// on, to a voting member, and the others then see the new leader.
func TestLeadership(t *testing.T) {
	c := start3(t)
	ctx := ctxT(t, 60*time.Second)
	leader := ""
	for i, name := range c.names {
		l, err := New(c.cli[i]).Leadership(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Self != name || cmp.Diff(c.names, l.Members) != "" || l.Leader == "" || (leader != "" && l.Leader != leader) {
			t.Fatalf("member %s sees %+v (leader so far %q)", name, l, leader)
		}
		leader = l.Leader
	}
	from := indexOf(c.names, leader)
	other, follower := c.names[(from+1)%3], (from+2)%3
	if err := New(c.cli[follower]).MoveLeader(ctx, other); err == nil || !strings.Contains(err.Error(), "does not lead") {
		t.Fatalf("MoveLeader from a follower: %v, want a refusal", err)
	}
	if err := New(c.cli[from]).MoveLeader(ctx, "nosuch"); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("MoveLeader to no member: %v", err)
	}
	if err := New(c.cli[from]).MoveLeader(ctx, other); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := New(c.cli[follower]).Leadership(ctx)
		if err == nil && l.Leader == other {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leader after the move: %+v, %v; want %s", l, err, other)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := New(c.cli[from]).MoveLeader(ctx, other); err != nil {
		t.Fatalf("MoveLeader to the member that leads: %v, want nothing to do", err)
	}
	if err := New(c.cli[from]).MoveLeader(ctx, c.names[follower]); err == nil || !strings.Contains(err.Error(), "does not lead") {
		t.Fatalf("MoveLeader from the former leader: %v, want a refusal", err)
	}
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}
