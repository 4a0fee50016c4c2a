package agent

import (
	"context"
	"fmt"
	"slices"

	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

var _ api.ScrubBackend = (*Agent)(nil)

// Scrub starts (check, repair) or cancels (idle) a scrub for a local caller (mdcadm --action).
// The request is recorded and a pass acts on it under the leases; the reply says whether md
// now scrubs, or the request waits for the resync lease or a slot (it then starts without
// another request).
func (a *Agent) Scrub(ctx context.Context, r api.ScrubRequest) (api.ScrubReply, error) {
	st, err := a.rec.lookup(r.Array)
	if err != nil {
		return api.ScrubReply{}, err
	}
	s := a.sm.current()
	if s == nil {
		return api.ScrubReply{}, fmt.Errorf("this node has no session in the lock engine")
	}
	v := st.getView()
	if st.cfg.Mode == config.ModeExclusive && !v.actHere {
		holder := v.holder
		if holder == "" {
			holder = "no node"
		}
		return api.ScrubReply{}, &api.HeldError{Kind: api.KindActivation, Array: st.cfg.Name, Holder: holder}
	}
	if r.Action == api.ScrubIdle {
		if err := a.elsewhere(ctx, st); err != nil {
			return api.ScrubReply{}, err
		}
	}
	owner := r.Owner
	if owner == "" {
		owner = "a local caller"
	}
	st.setIntent(func(i *intent) { i.scrub, i.scrubBy = r.Action, owner })
	v, err = a.pass(ctx, st)
	if err != nil {
		return api.ScrubReply{}, err
	}
	scrubbing := v.obs != nil && isScrub(v.obs.SyncAction) && v.syncHere
	switch {
	case r.Action == api.ScrubIdle:
		return api.ScrubReply{State: "idle", Message: "no scrub runs on " + st.cfg.Name}, nil
	case scrubbing:
		return api.ScrubReply{State: "running", Message: fmt.Sprintf("md %ss %s under the resync lease", v.obs.SyncAction, st.cfg.Name)}, nil
	case v.problem != "":
		return api.ScrubReply{State: "queued", Message: v.problem}, nil
	}
	return api.ScrubReply{State: "queued", Message: "waiting for the resync lease or a free resync slot (another sync runs)"}, nil
}

// elsewhere refuses to cancel a scrub another live node runs: it must be cancelled there.
func (a *Agent) elsewhere(ctx context.Context, st *arrayState) error {
	var rec []api.ScrubStatus
	members, err := a.Status(ctx)
	if err != nil {
		return err
	}
	rec = members.Scrubs
	var names []string
	for _, m := range members.Members {
		names = append(names, m.Name)
	}
	for _, sc := range rec {
		if sc.UUID == st.cfg.UUID && sc.State == scrubRunning && sc.Node != a.cfg.Node.Name && slices.Contains(names, sc.Node) {
			return &api.HeldError{Kind: api.KindResync, Array: st.cfg.Name, Holder: sc.Node}
		}
	}
	return nil
}
