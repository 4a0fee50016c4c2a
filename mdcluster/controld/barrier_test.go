package controld

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/dlm/memlock"
)

// runningSet returns ls's member set on n while its lockspace runs (control 1), or nil.
func runningSet(n *node, ls string) []int {
	b, err := os.ReadFile(filepath.Join(n.fs.Sys, ls, "control"))
	if err != nil || string(b) != "1" {
		return nil
	}
	return members(n.fs, ls)
}

// watchConsistency samples every node's lockspace until stop is closed and reports a moment at
// which two nodes ran it with different member sets: the kernel's recovery then computes the
// resource directory differently on each (dlm_master_lookup fails with -EINVAL, the lookup's
// requester takes -22 for a master's node id: "create_rcom to -22 … ENOBUFS").
func watchConsistency(nodes []*node, ls string, stop <-chan struct{}) func() string {
	var bad atomic.Pointer[string]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			var seen [][]int
			for _, n := range nodes {
				if m := runningSet(n, ls); m != nil {
					seen = append(seen, m)
				}
			}
			for i := 1; i < len(seen); i++ {
				if !slices.Equal(seen[i], seen[0]) && bad.Load() == nil {
					s := fmt.Sprintf("lockspace running with %v on one node and %v on another", seen[0], seen[i])
					bad.Store(&s)
				}
			}
		}
	}()
	return func() string {
		wg.Wait()
		if s := bad.Load(); s != nil {
			return *s
		}
		return ""
	}
}

// A failed node is removed from a lockspace only once every survivor has stopped it: a survivor
// slower to fence (here node2, 600 ms) must not keep running with the old member set while
// another (node1, 1 ms) already recovers with the new one.
func TestFailureStopsEverySurvivorBeforeAnyStarts(t *testing.T) {
	svc := memlock.NewService()
	n1 := newNode(t, svc, 1, "")
	n2 := newNode(t, svc, 2, "")
	n3 := newNode(t, svc, 3, "")
	n2.stop()
	cfg := n2.config("")
	cfg.FenceWait = 600 * time.Millisecond
	n2.startWith(t, cfg)
	const ls = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	all := []*node{n1, n2, n3}
	for _, n := range all {
		eventually(t, fmt.Sprintf("node%d has comms for all", n.id), func() bool { c, _ := n.fs.Comms(); return len(c) == 3 })
	}
	for _, n := range all {
		n.online(t, ls)
	}
	for _, n := range all {
		eventually(t, fmt.Sprintf("node%d runs with all three", n.id), func() bool { return reflect.DeepEqual(runningSet(n, ls), []int{1, 2, 3}) })
	}
	stop := make(chan struct{})
	result := watchConsistency([]*node{n1, n2}, ls, stop)
	n3.stop()
	n3.sess.Expire()
	for _, n := range []*node{n1, n2} {
		eventually(t, fmt.Sprintf("node%d runs without node3", n.id), func() bool { return reflect.DeepEqual(runningSet(n, ls), []int{1, 2}) })
	}
	close(stop)
	if bad := result(); bad != "" {
		t.Fatal(bad)
	}
}

// A joiner starts only once every member has stopped the lockspace for its join: while node2's
// control plane is down (its session alive), node3's join waits; it completes once node2's
// restarted control plane has stopped and acknowledged.
func TestJoinWaitsForEveryMemberToStop(t *testing.T) {
	svc := memlock.NewService()
	n1 := newNode(t, svc, 1, "")
	n2 := newNode(t, svc, 2, "")
	n3 := newNode(t, svc, 3, "")
	const ls = "mdlab"
	for _, n := range []*node{n1, n2, n3} {
		eventually(t, fmt.Sprintf("node%d has comms for all", n.id), func() bool { c, _ := n.fs.Comms(); return len(c) == 3 })
	}
	n1.online(t, ls)
	n2.online(t, ls)
	for _, n := range []*node{n1, n2} {
		eventually(t, fmt.Sprintf("node%d runs with node1 and node2", n.id), func() bool { return reflect.DeepEqual(runningSet(n, ls), []int{1, 2}) })
	}
	n2.stop() // as after kill -9: its session lives on
	n2.sess.Orphan()
	n3.online(t, ls)
	time.Sleep(300 * time.Millisecond)
	if m := runningSet(n3, ls); m != nil {
		t.Fatalf("node3 started the lockspace with %v while node2 had not stopped it", m)
	}
	resumed, err := n2.eng.Resume(t.Context(), n2.sess.ID())
	if err != nil {
		t.Fatal(err)
	}
	n2.sess = resumed.(*memlock.Session)
	n2.start(t, "")
	for _, n := range []*node{n1, n2, n3} {
		eventually(t, fmt.Sprintf("node%d runs with all three", n.id), func() bool { return reflect.DeepEqual(runningSet(n, ls), []int{1, 2, 3}) })
	}
}

// Two nodes that join each other's lockspaces at once (node1 runs P and joins Q while node2
// runs Q and joins P, as at a boot that assembles two md-cluster arrays in different orders)
// must not wait for each other: each join's wait stops what the other's join changes, though
// its own loop, blocked in the join, has not applied that change yet.
func TestCrossJoinsDoNotDeadlock(t *testing.T) {
	for round := 0; round < 10; round++ {
		svc := memlock.NewService()
		n1 := newNode(t, svc, 1, "")
		n2 := newNode(t, svc, 2, "")
		for _, n := range []*node{n1, n2} {
			eventually(t, fmt.Sprintf("node%d has comms for both", n.id), func() bool { c, _ := n.fs.Comms(); return len(c) == 2 })
		}
		n1.online(t, "P")
		n2.online(t, "Q")
		eventually(t, "node1 runs P, node2 runs Q", func() bool {
			return reflect.DeepEqual(runningSet(n1, "P"), []int{1}) && reflect.DeepEqual(runningSet(n2, "Q"), []int{2})
		})
		var wg sync.WaitGroup
		for _, j := range []struct {
			n  *node
			ls string
		}{{n1, "Q"}, {n2, "P"}} {
			wg.Add(1)
			go func() { defer wg.Done(); j.n.online(t, j.ls) }()
		}
		wg.Wait()
		for _, n := range []*node{n1, n2} {
			for _, ls := range []string{"P", "Q"} {
				eventually(t, fmt.Sprintf("round %d: node%d runs %s with both", round, n.id, ls), func() bool {
					return reflect.DeepEqual(runningSet(n, ls), []int{1, 2})
				})
			}
		}
		n1.stop()
		n2.stop()
	}
}
