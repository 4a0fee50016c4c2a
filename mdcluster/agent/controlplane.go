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
)

// monitorPaths are where the kernel DLM's monitor device may be (libdlm's path first).
var monitorPaths = []string{"/dev/misc/dlm-monitor", "/dev/dlm-monitor"}

// startControlPlane runs the kernel DLM's control plane in this agent when dlm_control.mode is
// mdclusterd (see mdcluster/controld), with the lock engine's etcd client. It returns a function that
// stops it. If the control plane's lease is lost the agent's session is ended too, so that the
// watchdog resets the node before the others recover its md-cluster slots.
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
	d := controld.New(a.locks.kv, controld.Config{
		Cluster: c.Cluster.Name, NodeID: c.Node.ID, Address: net.ParseIP(c.Node.Address),
		TTL: c.Leases.TTL.Duration, FenceWait: c.EffectiveFenceWait(), FenceCommand: c.DLMControl.FenceCommand,
		Prefix: c.LockEngine.Prefix + "controld/", Monitor: mon,
		Log: a.log.With("component", "controld"),
	})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			err := d.Run(ctx)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, controld.ErrLeaseLost) {
				a.log.Error("DLM control plane lost its lease: ending the session, the watchdog fences this node", "err", err)
				a.mu.Lock()
				sess := a.sess
				a.mu.Unlock()
				if sess != nil {
					_ = sess.Close()
				}
			} else {
				a.log.Error("DLM control plane stopped, restarting", "err", err)
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
