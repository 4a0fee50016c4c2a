package agent

import (
	"errors"
	"testing"

	"mdcluster.dev/mdcluster/api"
)

// mdcadm --action through the API: check starts at once under the lease on the node that runs
// the array, the status shows the scrub; another node is told who runs the array; idle cancels.
func TestScrubAPI(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid1)
	b := c.agent("node2", 2, nil, t.TempDir(), raid1)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md0") })
	b.start()
	ctx := t.Context()
	eventually(t, "node1's first sync settled", func() bool {
		v := a.rec.array(raid1.UUID).getView()
		return !v.syncHere && v.obs != nil && v.obs.SyncAction == "idle"
	})
	var held *api.HeldError
	if _, err := b.Scrub(ctx, api.ScrubRequest{Array: "mirror", Action: api.ScrubCheck}); !errors.As(err, &held) || held.Holder != "node1" {
		t.Fatalf("node2: %v", err)
	}
	rep, err := a.Scrub(ctx, api.ScrubRequest{Array: "mirror", Action: api.ScrubCheck, Owner: "mdcadm pid 1 uid 0"})
	if err != nil || rep.State != "running" {
		t.Fatalf("node1 check: %+v %v", rep, err)
	}
	st, err := b.Status(ctx)
	if err != nil || len(st.Scrubs) != 1 || st.Scrubs[0].Node != "node1" || st.Scrubs[0].State != scrubRunning || st.Scrubs[0].Array != "mirror" {
		t.Fatalf("status scrubs %+v %v", st.Scrubs, err)
	}
	a.md.set(t, "md0", "sync_action", "check")
	rep, err = a.Scrub(ctx, api.ScrubRequest{Array: "mirror", Action: api.ScrubIdle})
	if err != nil || rep.State != "idle" {
		t.Fatalf("idle: %+v %v", rep, err)
	}
	if got := a.md.get(t, "md0", "sync_action"); got != "idle" {
		t.Fatalf("sync_action %q after idle", got)
	}
	if _, err := a.Scrub(ctx, api.ScrubRequest{Array: "nope", Action: api.ScrubCheck}); err == nil {
		t.Fatal("unknown array accepted")
	}
}
