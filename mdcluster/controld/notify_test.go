package controld

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"mdcluster.dev/dlm/memlock"
	"mdcluster.dev/mdcluster/api"
)

// TestFailedNodeNotifies: the steps of a failed node's handling reach Notify in order — fence
// started, fence done, then its slot's recovery in each lockspace it was in.
func TestFailedNodeNotifies(t *testing.T) {
	svc := memlock.NewService()
	n1 := newNode(t, svc, 1, "")
	n1.stop()
	cfg := n1.config("")
	cfg.FenceWait = 10 * time.Millisecond
	var mu sync.Mutex
	var got []string
	cfg.Notify = func(ev string, node int, detail string) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %d %s", ev, node, detail))
		mu.Unlock()
	}
	n1.startWith(t, cfg)
	n2 := newNode(t, svc, 2, "")
	const ls = "mdlab"
	n1.online(t, ls)
	n2.online(t, ls)
	eventually(t, "both joined", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1, 2}) })
	n2.stop()
	n2.sess.Expire()
	eventually(t, "node2 removed", func() bool { return reflect.DeepEqual(members(n1.fs, ls), []int{1}) })
	mu.Lock()
	defer mu.Unlock()
	want := []string{api.EventFenceStarted + " 2 waiting 10ms for its watchdog", api.EventFenceDone + " 2 waiting 10ms for its watchdog",
		api.EventSlotRecovery + " 2 lockspace mdlab"}
	if !slices.Equal(got, want) {
		t.Fatalf("notified %q, want %q", got, want)
	}
}
