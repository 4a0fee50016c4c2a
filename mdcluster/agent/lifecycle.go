package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// stopRetry is how long a clean stop retries an array that is busy (a short-lived opener such
// as udev's blkid) before it counts it as in use.
const stopRetry = 5 * time.Second

// shutdown is the clean stop, run after the workers ended. The exclusive arrays stop first;
// each one that stopped gives its activation lease back (a waiting node takes it over). An
// array that cannot be stopped (open, mounted) keeps its lease. If anything here may still
// write — such an array, or DLM lockspaces in use (md-cluster arrays) — the session stays (it
// is not revoked, the session file stays) and the watchdog stays armed: a restarted agent
// resumes it all; without one, the node is reset before the lease can expire anywhere.
// Otherwise the session is closed and the watchdog disarmed.
func (a *Agent) shutdown() error {
	left, err := a.stopExclusiveRetry()
	running := map[string]bool{}
	for _, n := range left {
		running[n] = true
	}
	for _, st := range a.rec.states() {
		if st.cfg.Mode == config.ModeExclusive && st.getView().obs != nil && running[st.getView().obs.Name] {
			continue
		}
		a.rec.releaseSyncLocks(st)
		if st.act != nil {
			a.rec.giveBack(st, st.act)
			st.setAct(nil)
			a.log.Info("activation lease released at shutdown", "array", st.cfg.Name)
			a.rec.event(api.EventLeaseReleased, st, "mdclusterd stopping", "kind", api.KindActivation)
		}
	}
	a.releaseCallers()
	a.events.flush(opTimeout) // the stops and releases above reach the log before the session ends
	ls, lerr := a.paths.lockspaces()
	s := a.sm.cur.Load()
	a.stopControlPlane()
	if err != nil || lerr != nil || len(left) > 0 || len(ls) > 0 {
		why := fmt.Sprintf("exclusive arrays in use %v, DLM lockspaces in use %v", left, ls)
		if err = errors.Join(err, lerr); err != nil {
			why = "cannot read md or the DLM: " + err.Error()
		}
		a.log.Error("stopping while this node may still write: its session and leases stay and the watchdog stays armed; "+
			"restart mdclusterd within the watchdog timeout, or the node is reset before its leases can expire",
			"why", why, "watchdog_timeout", a.g.timeout())
		a.g.finish(false)
		if s != nil {
			if o, ok := s.Session.(interface{ Orphan() }); ok {
				o.Orphan()
			}
		}
		return fmt.Errorf("stopped with the watchdog armed: %s", why)
	}
	a.g.finish(true)
	if s != nil {
		if err := s.Close(); err != nil {
			a.log.Warn("close session", "err", err)
		}
		a.sm.forget()
	}
	return nil
}

// stopExclusiveRetry stops the exclusive arrays running here, retrying busy ones for a while.
func (a *Agent) stopExclusiveRetry() ([]string, error) {
	deadline := time.Now().Add(stopRetry)
	for {
		left, err := a.stopExclusive("mdclusterd stopping")
		if err != nil || len(left) == 0 || time.Now().After(deadline) {
			return left, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// releaseCallers gives back the leases held for local callers.
func (a *Agent) releaseCallers() {
	a.mu.Lock()
	callers := a.callers
	a.callers = nil
	a.mu.Unlock()
	for res, l := range callers {
		if err := unlock(l); err != nil {
			a.log.Warn("release caller lease at shutdown", "resource", res, "err", err)
		}
	}
}

// key is a cluster-state key under the lock engine's prefix.
func (a *Agent) key(parts ...string) string {
	return path.Join(append([]string{a.cfg.LockEngine.Prefix, "state"}, parts...)...)
}

// health tracks the agent's own progress for systemd's watchdog (WatchdogSec=): a hung worker
// or loop must get the agent restarted.
type health struct {
	mu       sync.Mutex
	busy     [workers]time.Time
	lastTick time.Time
}

func (h *health) begin(i int) { h.mu.Lock(); h.busy[i] = time.Now(); h.mu.Unlock() }
func (h *health) end(i int)   { h.mu.Lock(); h.busy[i] = time.Time{}; h.mu.Unlock() }
func (h *health) tick()       { h.mu.Lock(); h.lastTick = time.Now(); h.mu.Unlock() }

// Alive returns nil while the agent makes progress: its periodic loop ticks and no pass has
// run for longer than an assembly may take. cmd/mdclusterd pets systemd's watchdog only then.
func (a *Agent) Alive() error {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	if !a.health.lastTick.IsZero() && time.Since(a.health.lastTick) > 5*resyncPeriod {
		return fmt.Errorf("the periodic loop has not run for %s", time.Since(a.health.lastTick).Round(time.Second))
	}
	for _, t := range a.health.busy {
		if !t.IsZero() && time.Since(t) > assembleTimeout+30*time.Second {
			return fmt.Errorf("a reconcile pass has run for %s", time.Since(t).Round(time.Second))
		}
	}
	return nil
}

// discover adds md-cluster arrays of this cluster that run here but are not configured, so
// they are watched and reported like configured ones (the agent never holds back their sync),
// and drops those that stopped.
func (a *Agent) discover() {
	arrays, err := a.md.Arrays()
	if err != nil {
		return
	}
	running := map[string]bool{}
	for _, ar := range arrays {
		if ar.Level == "" || !ar.Bitmap.Clustered() {
			continue
		}
		uuid := mdadmUUID(ar.UUID)
		running[uuid] = true
		if a.rec.array(uuid) != nil {
			continue
		}
		name, cluster, err := clusterOf(a.paths.Dev, ar)
		if err != nil || cluster != a.cfg.Cluster.Name {
			continue
		}
		a.rec.addDiscovered(config.Array{UUID: uuid, Name: name, Mode: config.ModeClustered})
		a.log.Info("watching an md-cluster array of this cluster that is not in the configuration", "array", name, "md", ar.Name, "uuid", uuid)
	}
	a.rec.dropDiscovered(running)
}

// clusterOf reads an md-cluster array's name and cluster name from a member's superblocks.
func clusterOf(devDir string, ar md.Array) (name, cluster string, err error) {
	for _, m := range ar.Members {
		f, err := os.Open(filepath.Join(devDir, m.Name))
		if err != nil {
			continue
		}
		size, err := f.Seek(0, 2)
		if err != nil {
			f.Close()
			continue
		}
		r := bitmap.NewReader(f, size)
		sb, _, err := r.ProbeSuperblock()
		if err == nil {
			var bsb *bitmap.BitmapSuperblock
			if bsb, err = r.BitmapSuperblock(sb); err == nil {
				f.Close()
				n := sb.Name()
				if i := strings.LastIndexByte(n, ':'); i >= 0 {
					n = n[i+1:]
				}
				return n, bsb.Name(), nil
			}
		}
		f.Close()
	}
	return "", "", fmt.Errorf("%s: no member superblock readable", ar.Name)
}

// mdadmUUID writes a UUID in mdadm's form (8:8:8:8 hex).
func mdadmUUID(u md.UUID) string {
	h := fmt.Sprintf("%x", u[:])
	return h[0:8] + ":" + h[8:16] + ":" + h[16:24] + ":" + h[24:32]
}

// watchUevents turns kernel uevents into passes, answers md-cluster's new-disk requests at once
// (the kernel gives them only a few seconds) and hands DLM lockspace events to the control plane.
func (a *Agent) watchUevents(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := md.NewWatcher()
		if err != nil {
			a.log.Error("uevent watcher", "err", err)
			sleepCtx(ctx, 5*time.Second)
			continue
		}
		a.readUevents(ctx, w)
		w.Close()
	}
}

// eventSource is md's uevent watcher (tests feed captured events).
type eventSource interface {
	Next(ctx context.Context) (md.Event, error)
}

func (a *Agent) readUevents(ctx context.Context, w eventSource) {
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, syscall.EINTR) {
				a.log.Error("read uevent", "err", err)
			}
			return
		}
		switch e := ev.(type) {
		case *md.NewDiskEvent:
			if err := a.confirmNewDisk(e); err != nil {
				a.log.Error("new-disk request", "md", e.Array, "err", err)
			}
			a.kickAll()
		case *md.ArrayEvent:
			a.kickAll()
		case *md.LockspaceEvent:
			a.lockspaceEvent(e)
		}
	}
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
