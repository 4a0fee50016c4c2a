package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/controld"
	"mdcluster.dev/mdcluster/md"
)

// monitorPaths are where the kernel DLM's monitor device may be (libdlm's path first).
var monitorPaths = []string{"/dev/misc/dlm-monitor", "/dev/dlm-monitor"}

// startControlPlane runs the kernel DLM's control plane in this agent when dlm_control.mode is
// mdclusterd (see mdcluster/controld), riding the agent's session. It returns a function that
// stops it.
func (a *Agent) StartControlPlane(ctx context.Context) (stop func(), err error) {
	c := a.cfg
	if c.DLMControl.Mode != config.ControlMdclusterd {
		return func() {}, nil
	}
	if a.locks.kv == nil {
		return nil, errors.New("dlm_control.mode mdclusterd needs an etcd lock engine")
	}
	mon := ""
	for _, p := range monitorPaths {
		if _, err := os.Stat(p); err == nil {
			mon = p
			break
		}
	}
	if mon == "" {
		return nil, fmt.Errorf("no DLM monitor device (%v): is the dlm module loaded?", monitorPaths)
	}
	// The kernel's lockspace uevents: forwarded from a watcher of the control plane's own until
	// the agent's uevent reader (events.go) forwards them from its socket.
	events := make(chan md.LockspaceEvent, 64)
	d := controld.New(controld.Config{
		Cluster: c.Cluster.Name, NodeID: c.Node.ID, Address: net.ParseIP(c.Node.Address),
		FenceWait: c.EffectiveFenceWait(), FenceCommand: c.DLMControl.FenceCommand,
		Prefix: c.LockEngine.Prefix + "controld/", Monitor: mon,
		Log: a.log.With("component", "controld"),
	}, events)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go forwardLockspaceEvents(ctx, events, a)
	go func() {
		defer close(done)
		for {
			// The control plane rides the agent's session: one lease per node.
			var sess controld.Session
			a.mu.Lock()
			if s, ok := a.sess.(controld.Session); ok && s.Ctx().Err() == nil {
				sess = s
			}
			a.mu.Unlock()
			if sess != nil {
				err := d.Run(ctx, sess)
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, controld.ErrLeaseLost) {
					a.log.Error("DLM control plane: the session ended; the watchdog fences this node if anything is protected", "err", err)
				} else {
					a.log.Error("DLM control plane stopped, restarting", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return func() {
		cancel()
		<-done
		if ls := d.Lockspaces(); len(ls) > 0 {
			// dlm_controld refuses to stop here; the agent stops, so say what follows.
			a.log.Error("DLM control plane stops with lockspaces in use: the kernel stops them, and the other nodes recover this node's md-cluster slots once its lease expires; stop clustered arrays before the agent",
				"lockspaces", ls)
		}
		d.Close()
	}, nil
}

// forwardLockspaceEvents reads the kernel's DLM lockspace uevents for the control plane.
func forwardLockspaceEvents(ctx context.Context, events chan<- md.LockspaceEvent, a *Agent) {
	for ctx.Err() == nil {
		w, err := md.NewWatcher()
		if err != nil {
			a.log.Error("lockspace uevent watcher", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
				continue
			}
		}
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				break
			}
			if e, ok := ev.(*md.LockspaceEvent); ok {
				select {
				case events <- *e:
				case <-ctx.Done():
				}
			}
		}
		w.Close()
	}
}
