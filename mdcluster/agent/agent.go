// Package mdcluster is mdclusterd, the agent that runs on every server sharing md disks: it
// keeps the node's session in the lock engine, observes md (uevents plus a periodic full look)
// and decides what md may do — which node assembles an exclusive array, when a resync or a
// recovery may run — and confirms md-cluster's new-disk requests.
//
// Its reconcile loop is level-triggered: every pass re-reads md and the locks and derives the
// actions from what it sees, never from the event that woke it, so a restart (even after
// kill -9) converges without repeating a destructive step.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// resyncPeriod is how often the loop looks at every array even without an event.
const resyncPeriod = 2 * time.Second

// Agent is one mdclusterd.
type Agent struct {
	cfg *config.Config
	log *slog.Logger
	fs  md.FS
	// mdadm is the path of the mdadm binary used to assemble arrays.
	mdadm string

	locks *lockService
	kick  chan struct{}

	mu      sync.Mutex
	sess    dlm.Session
	arrays  map[string]*arrayState // by UUID
	callers map[string]callerLease // leases held for local callers, by resource
	counter api.Counters
	// published is the resync state last written to the cluster, by UUID.
	published map[string]string
}

// arrayState is what the agent remembers about one array between passes. Nothing here is
// trusted over what md and the lock engine say: it only holds the locks this process owns.
type arrayState struct {
	cfg config.Array
	// act is the activation lease (exclusive arrays), held in PW with our name in its LVB.
	act dlm.Lock
	// sync and slot are the resync lease and the cluster-wide concurrency slot.
	sync, slot dlm.Lock
	// unfrozen is when we let md's sync run; see reconcileSync.
	unfrozen time.Time
	// waiting is set while a goroutine queues for the activation lease; granted is the lease
	// it got, for the loop to take over.
	waiting bool
	granted dlm.Lock
	// standby: an operator stopped the array here (Release of the activation lease); the
	// agent neither runs it nor takes the lease again until an Acquire.
	standby bool
	// holder is the node the activation lease was last seen with, if not us.
	holder  string
	problem string
	mdName  string
	last    *md.Array
}

// New returns an agent for a validated configuration.
func New(cfg *config.Config, log *slog.Logger) (*Agent, error) {
	fs, err := md.NewDefaultFS()
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, fs: fs, mdadm: "mdadm", kick: make(chan struct{}, 1),
		arrays: map[string]*arrayState{}, published: map[string]string{}, counter: api.Counters{Actions: map[string]uint64{}}}
	for _, ac := range cfg.Arrays {
		a.arrays[ac.UUID] = &arrayState{cfg: ac}
	}
	return a, nil
}

// Kick asks for a reconcile pass soon.
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run starts the lock engine, the API, the uevent watcher and the watchdog, then reconciles
// until ctx ends. It returns an error when it cannot start or when the session is lost with
// the watchdog armed (the node is about to be reset).
func (a *Agent) Run(ctx context.Context, ready func(status string)) error {
	ls, err := openLockService(ctx, a.cfg)
	if err != nil {
		return err
	}
	a.locks = ls
	defer ls.Close()
	stopControlPlane, err := a.StartControlPlane(ctx)
	if err != nil {
		return err
	}
	defer stopControlPlane()
	srv := &api.Server{Backend: a, Log: a.log.With("component", "api")}
	if err := srv.Listen(a.cfg.Listen.APISocket); err != nil {
		return err
	}
	defer srv.Close()
	defer os.Remove(a.cfg.Listen.APISocket)
	// Arrays assembled by anyone start read-only until their first write, so md cannot begin a
	// resync before this agent has frozen it.
	if err := setStartRO(); err != nil {
		a.log.Warn("cannot make new arrays start read-auto", "err", err)
	}
	go a.watchUevents(ctx)
	for ctx.Err() == nil {
		if err := a.runSession(ctx, ready); err != nil {
			if errors.Is(err, errFenced) {
				return err
			}
			a.log.Error("session ended", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

var errFenced = errors.New("session lost while the watchdog is armed: the node fences itself")

// runSession opens a session and reconciles until it ends.
func (a *Agent) runSession(ctx context.Context, ready func(string)) error {
	sess, resumed, err := a.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A clean stop ends the session; an agent that is killed leaves it for its restart.
		if ctx.Err() != nil {
			a.releaseAll()
			sess.Close()
			a.forgetSession()
		}
	}()
	if resumed {
		a.log.Info("resumed the previous process's session")
		a.adopt(ctx, sess)
	}
	a.mu.Lock()
	a.sess = sess
	a.mu.Unlock()
	if err := a.register(ctx, sess); err != nil {
		// Not serving: end this session rather than leave its lease (and any adopted locks)
		// to expire on their own while the next one is opened.
		a.releaseAll()
		a.mu.Lock()
		a.sess = nil
		a.mu.Unlock()
		sess.Close()
		a.forgetSession()
		return err
	}
	a.log.Info("session open", "ttl", a.cfg.Leases.TTL.Duration)
	fenceDone := a.startFencer(ctx, sess)
	if ready != nil {
		ready(fmt.Sprintf("node %s in cluster %s", a.cfg.Node.Name, a.cfg.Cluster.Name))
	}
	tick := time.NewTicker(resyncPeriod)
	defer tick.Stop()
	for {
		a.reconcileAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			a.forgetSession()
			a.sessionLost(ctx)
			if fenceDone != nil {
				return errFenced
			}
			return errors.New("session expired")
		case <-tick.C:
		case <-a.kick:
		}
	}
}

// sessionLost forgets every lock (they are gone with the session) and stops exclusive arrays:
// another node may take them over as soon as the TTL runs out.
func (a *Agent) sessionLost(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sess = nil
	for _, st := range a.arrays {
		st.act, st.sync, st.slot, st.granted = nil, nil, nil, nil
		if st.cfg.Mode == config.ModeExclusive && st.mdName != "" {
			a.log.Error("session lost: stopping exclusive array", "array", st.cfg.Name, "md", st.mdName)
			if err := a.fs.Stop(st.mdName); err != nil {
				a.log.Error("stop array after session loss", "array", st.cfg.Name, "err", err)
			}
		}
	}
}

// releaseAll gives every lease back on a clean shutdown.
func (a *Agent) releaseAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, st := range a.arrays {
		for _, l := range []dlm.Lock{st.slot, st.sync, st.act} {
			if l != nil {
				_ = l.Unlock(ctx)
			}
		}
		st.act, st.sync, st.slot = nil, nil, nil
	}
}

func (a *Agent) count(action string) {
	a.counter.Actions[action]++
}

func setStartRO() error {
	return os.WriteFile("/sys/module/md_mod/parameters/start_ro", []byte("1"), 0)
}
