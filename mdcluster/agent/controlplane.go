package agent

import (
	"context"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// controlPlane is the kernel DLM's control plane (mdcluster/controld) running on the agent's
// session, when dlm_control.mode is mdclusterd.
type controlPlane struct {
	cancel func()
	done   chan struct{}
}

// LEAD-TODO: wire controld on the session once its port to dlm.StoreSession lands.
func (a *Agent) startControlPlane(ctx context.Context, s *session) {
	if a.cfg.DLMControl.Mode != config.ControlMdclusterd {
		return
	}
	a.log.Error("LEAD-TODO control plane not wired")
}

func (a *Agent) stopControlPlane() {}

func (a *Agent) lockspaceEvent(e *md.LockspaceEvent) {}
