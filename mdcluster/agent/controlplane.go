package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"mdcluster.dev/mdcluster/controld"
	"mdcluster.dev/mdcluster/md"
)

// monitorPaths are where the kernel DLM's monitor device may be (libdlm's path first).
var monitorPaths = []string{"/dev/misc/dlm-monitor", "/dev/dlm-monitor"}

// controlPlane is the kernel DLM's control plane (mdcluster/controld) when dlm_control.mode is
// mdclusterd. It rides the agent's session — one lease per node, so the watchdog and the peers'
// fence wait measure the same expiry — and gets the lockspace uevents from the agent's one
// uevent socket.
type controlPlane struct {
	d      *controld.Daemon
	events chan md.LockspaceEvent
	cancel context.CancelFunc
	done   chan struct{}
}

// newControlPlane builds the control plane; fs and monitor are the running system's unless a
// test gives others.
func (a *Agent) newControlPlane(fs controld.ConfigFS, monitor string) (*controlPlane, error) {
	c := a.cfg
	if monitor == "" {
		for _, p := range monitorPaths {
			if _, err := os.Stat(p); err == nil {
				monitor = p
				break
			}
		}
		if monitor == "" {
			return nil, fmt.Errorf("dlm_control.mode mdclusterd: no DLM monitor device (%v): is the dlm module loaded?", monitorPaths)
		}
	}
	events := make(chan md.LockspaceEvent, 1024)
	d := controld.New(controld.Config{Cluster: c.Cluster.Name, NodeID: c.Node.ID, Address: net.ParseIP(c.Node.Address),
		FenceWait: c.EffectiveFenceWait(), FenceCommand: c.DLMControl.FenceCommand, Prefix: c.LockEngine.Prefix + "controld/",
		Monitor: monitor, FS: fs, Log: a.log.With("component", "controld")}, events)
	return &controlPlane{d: d, events: events}, nil
}

// startControlPlane runs the control plane on session s until it ends.
func (a *Agent) startControlPlane(ctx context.Context, s *session) {
	cp := a.cp
	if cp == nil {
		return
	}
	sess, ok := s.Session.(controld.Session)
	if !ok {
		a.log.Error("dlm_control.mode mdclusterd needs a lock engine with a session store (etcd)")
		return
	}
	ctx, cancel := s.ctx(ctx)
	cp.cancel, cp.done = cancel, make(chan struct{})
	go func() {
		defer close(cp.done)
		defer cancel()
		for ctx.Err() == nil {
			err := cp.d.Run(ctx, sess)
			if ctx.Err() != nil || errors.Is(err, controld.ErrLeaseLost) {
				return
			}
			a.log.Error("DLM control plane stopped, restarting", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}()
}

// stopControlPlane ends the control plane's run on the current session.
func (a *Agent) stopControlPlane() {
	cp := a.cp
	if cp == nil || cp.cancel == nil {
		return
	}
	cp.cancel()
	<-cp.done
	cp.cancel = nil
}

// closeControlPlane closes the monitor device at the agent's exit: with lockspaces still in use
// the kernel stops them (a restarted agent adopts and starts them again).
func (a *Agent) closeControlPlane() {
	if a.cp == nil {
		return
	}
	if ls := a.cp.d.Lockspaces(); len(ls) > 0 {
		a.log.Warn("the DLM control plane stops with lockspaces in use: the kernel stops them until mdclusterd runs again", "lockspaces", ls)
	}
	a.cp.d.Close()
}

// lockspaceEvent hands a lockspace uevent to the control plane. The kernel blocks the joining
// or leaving lockspace until it is answered, so an event is never dropped while one runs.
func (a *Agent) lockspaceEvent(e *md.LockspaceEvent) {
	if a.cp == nil {
		return
	}
	select {
	case a.cp.events <- *e:
	default:
		// Never block the uevent reader: new-disk requests behind it have seconds to answer.
		a.log.Error("DLM control plane is not taking lockspace events; the kernel waits for this one", "lockspace", e.Lockspace, "action", e.Action)
	}
}
