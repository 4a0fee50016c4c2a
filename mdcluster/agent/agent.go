// Package agent is mdclusterd, the agent that runs on every server sharing md disks: it keeps
// the node's session in the lock engine, watches md (uevents plus a periodic look) and decides
// what md may do — which node runs an exclusive array, when a resync may run — confirms
// md-cluster's new disks, and fences the node when its session is lost.
//
// The decisions live in Reconciler (one pass per array, level-triggered, everything injected);
// this file wires it to the real system: the lock service, the work queue and its workers, the
// session manager, the watchdog guard, the uevent watcher and the local API.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/controld"
	"mdcluster.dev/mdcluster/fence"
	"mdcluster.dev/mdcluster/md"
)

// resyncPeriod is how often every array is looked at without an event.
const resyncPeriod = 2 * time.Second

// workers is how many arrays are reconciled at once: one slow mdadm must not hold the others.
const workers = 4

// Agent is one mdclusterd.
type Agent struct {
	// started tells this process from the one it replaced at a reload (same PID): `mdclusterd
	// reload` waits for a status with another start time.
	started time.Time
	cfg     *config.Config
	log     *slog.Logger
	paths   Paths
	md      MD
	mdadm   Mdadm
	// openEngine opens the lock engine (tests give an in-memory one).
	openEngine func(context.Context) (dlm.Engine, func(), error)
	// openWatchdog opens the self-fencing device; nil means none is needed. prev is the timeout
	// of a previous process's recorded session (0: none), keepArmed whether a previous process
	// may have left it armed over something that still runs (see openWatchdog in fencing.go).
	openWatchdog func(prev time.Duration, keepArmed bool) (Watchdog, string)
	// reset forces an immediate reset (sysrq b); hold is where Run stays once the node is
	// being reset: returning would close the watchdog, and the kernel pings it on close.
	reset func() error
	hold  func()

	runCtx    context.Context
	cancelRun context.CancelFunc
	rec       *Reconciler
	q         *queue
	sm        *sessionManager
	g         *guard
	fencing   string // why exclusive arrays cannot run here, "" when they can
	// keepArmed: at the start, a previous process may have left the watchdog armed over
	// something that still runs (startGuard); this process never disarms it before its session.
	keepArmed bool
	inflight  atomic.Int64
	health    health
	events    *eventLog // the cluster's event log (events.go)
	monitor   monitors  // delivery leases held for mdcadm --monitor (monitor.go)
	// configRecorded: this process compared its configuration with the recorded one.
	configRecorded atomic.Bool

	mu      sync.Mutex
	callers map[string]dlm.Lock // leases held for local callers (mdcadm), by resource
	cp      *controlPlane
	// controldFS and controldMonitor are the DLM's configfs and monitor device (tests give
	// their own; zero values mean the running system's).
	controldFS      controld.ConfigFS
	controldMonitor string
}

// New returns an agent for a validated configuration, on the running system.
func New(cfg *config.Config, log *slog.Logger) (*Agent, error) {
	fs, err := md.NewDefaultFS()
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, paths: DefaultPaths(), md: fs, mdadm: execMdadm{Path: "mdadm"},
		hold: func() { select {} }}
	a.reset = sysrqReset(a.paths.SysrqTrigger)
	a.openEngine = func(ctx context.Context) (dlm.Engine, func(), error) { return openLockService(ctx, cfg, log) }
	a.init()
	if needsFencing(cfg) {
		a.openWatchdog = func(prev time.Duration, keepArmed bool) (Watchdog, string) {
			ttl := cfg.Leases.TTL.Duration
			w, why := openWatchdog(cfg.Leases.Watchdog, ttl, cfg.Leases.WatchdogMargin.Duration, ttl/dlm.RenewDivisor, ttl/dlm.RetryDivisor, prev, keepArmed)
			if w == nil {
				return nil, why
			}
			return w, ""
		}
	}
	return a, nil
}

// errFenced is returned by Run when the node is being reset (tests only: in production Run
// stays in hold).
var errFenced = errors.New("session lost while this node could still write: the node resets itself")

// Run arms self-fencing, starts the lock engine, the API, the uevent watcher and the workers,
// then keeps a session until ctx ends; then it stops cleanly (see shutdown).
func (a *Agent) Run(ctx context.Context, ready func(status string)) error {
	runCtx, cancelRun := a.runCtx, a.cancelRun
	defer cancelRun()
	// The watchdog comes first: a restarted agent must pet it against its previous session's
	// deadline before anything slow (starting etcd) happens.
	if err := a.startGuard(); err != nil {
		return err
	}
	if a.cfg.DLMControl.Mode == config.ControlMdclusterd {
		cp, err := a.newControlPlane(a.controldFS, a.controldMonitor)
		if err != nil {
			a.startFailed()
			return err
		}
		a.cp = cp
	}
	eng, closeEngine, err := a.openEngine(ctx)
	if err != nil {
		a.startFailed()
		return err
	}
	defer closeEngine()
	defer a.closeControlPlane()
	a.sm.eng = eng
	srv := &api.Server{Backend: a, Log: a.log.With("component", "api")}
	if err := srv.Listen(a.cfg.Listen.APISocket); err != nil {
		a.startFailed()
		return err
	}
	defer os.Remove(a.cfg.Listen.APISocket)
	defer srv.Close()
	var wg sync.WaitGroup
	a.startWorkers(runCtx, &wg)
	go a.watchUevents(runCtx)
	go a.tick(runCtx)
	go a.placeLeader(runCtx, eng)
	// The event writer outlives the workers: a clean stop logs its stops and releases.
	evCtx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	go a.events.run(evCtx)
	fenced := a.keepSession(ctx, ready)
	if fenced {
		cancelRun()
		a.q.stop()
		a.hold()
		return errFenced
	}
	a.q.stop()
	cancelRun()
	wg.Wait()
	return a.shutdown()
}

// init builds the queue, the session manager and the reconciler from the agent's dependencies.
func (a *Agent) init() {
	a.started = time.Now()
	a.runCtx, a.cancelRun = context.WithCancel(context.Background())
	a.q = newQueue()
	a.sm = &sessionManager{ttl: a.cfg.Leases.TTL.Duration, paths: a.paths, bootID: a.paths.bootID(), log: a.log,
		member:    memberInfo{Name: a.cfg.Node.Name, ID: a.cfg.Node.ID, Address: a.cfg.Node.Address},
		memberKey: a.key("members", a.cfg.Node.Name)}
	a.events = newEventLog(a.cfg.Node.Name, a.cfg.LockEngine.Prefix, dlm.Retention{MaxCount: a.cfg.Events.MaxCount,
		MaxAge: a.cfg.Events.MaxAge.Duration}, a.sm.current, a.log.With("component", "events"))
	a.rec = NewReconciler(a.runCtx, Deps{Node: a.cfg.Node, Resync: a.cfg.Resync, Prefix: a.cfg.LockEngine.Prefix,
		MD: a.md, Mdadm: countingMdadm{a.mdadm, &a.inflight}, Paths: a.paths, Log: a.log, Sessions: a.sm.current,
		Fencing: func() string { return a.fencing }, Kick: func(uuid string) { a.q.add(uuid) },
		Events: a.events.emit, Scrub: a.cfg.Scrub}, a.cfg.Arrays)
	a.sm.resources = a.rec.resources
}

// startGuard opens the watchdog (when something here needs fencing) and starts petting it. A
// restarted agent past its predecessor's fence point must not open it while that session's
// arrays may run (closing it again would make the kernel ping it once more, and every restart
// would buy another timeout): it stops what that session ran instead, resets the node if
// anything may still write, and opens the watchdog afresh only once nothing does.
func (a *Agent) startGuard() error {
	g := &guard{margin: a.cfg.Leases.WatchdogMargin.Duration, sessions: a.sm, onLost: a.sessionLost,
		reset: a.reset, log: a.log.With("component", "fence"),
		stopPets: make(chan struct{}), done: make(chan struct{})}
	a.g = g
	a.sm.previousGone = g.previousGone
	rec, hasRecord := a.sm.readRecord()
	var prev time.Duration // the recorded session's watchdog timeout, while that session counts
	if hasRecord {
		if rec.Timeout > 0 && !fence.PetAllowed(time.Now(), monoToTime(rec.DeadlineMono), g.margin, rec.Timeout) {
			a.log.Error("starting past the previous process's fence point: stopping what its session ran before the watchdog opens")
			if !g.previousGone() {
				a.hold()
				return errFenced
			}
			a.sm.forget()
		} else {
			// Until the session is resumed, the guard pets only against its recorded deadline.
			d := monoToTime(rec.DeadlineMono)
			a.sm.recordedTimeout.Store(int64(rec.Timeout))
			a.sm.recorded.Store(&d)
			prev = rec.Timeout
		}
	}
	// A previous process may have left the watchdog armed over something that still runs: its
	// recorded session, or (a start that failed before its session) an exclusive array or a DLM
	// lockspace. Neither a failed set-up nor a failed start may then disarm it.
	a.keepArmed = hasRecord || a.mayWriteAtStart()
	if warn := a.cfg.TimingWarning(); warn != "" {
		a.log.Warn(warn)
	}
	if a.openWatchdog != nil {
		w, why := a.openWatchdog(prev, a.keepArmed)
		if w != nil {
			g.w = w
			a.sm.timeout.Store(int64(w.Timeout()))
			a.log.Info("self-fencing armed", "watchdog", a.cfg.Leases.Watchdog, "timeout", w.Timeout(),
				"ttl", a.cfg.Leases.TTL.Duration, "margin", g.margin,
				"silence_tolerated", fence.StoreSilence(a.cfg.Leases.TTL.Duration, g.margin, w.Timeout()))
		} else {
			a.fencing = why
			a.log.Error("self-fencing unavailable: exclusive arrays will not run here", "why", why)
		}
	}
	go g.run()
	return nil
}

// keepSession opens (or resumes) the node's session and keeps one until ctx ends. It reports
// whether the node is being reset.
func (a *Agent) keepSession(ctx context.Context, ready func(string)) bool {
	announced := false
	for ctx.Err() == nil {
		s, err := a.sm.open(ctx)
		if errors.Is(err, errFencedAtStart) {
			return true
		}
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("no session in the lock engine; retrying", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		if err := a.sm.register(ctx, s); err != nil {
			a.log.Warn("cannot publish this node as a member yet", "err", err)
		}
		a.sm.cur.Store(s)
		a.sessionEvents(ctx, s)
		a.startControlPlane(ctx, s)
		a.kickAll()
		a.log.Info("session open", "ttl", a.cfg.Leases.TTL.Duration, "resumed", s.resumed)
		if !announced && ready != nil {
			ready(fmt.Sprintf("node %s in cluster %s", a.cfg.Node.Name, a.cfg.Cluster.Name))
			announced = true
		}
		select {
		case <-ctx.Done():
			return a.g.fenced.Load()
		case <-s.decided: // the guard ran the session-lost steps
		}
		a.stopControlPlane()
		if a.g.fenced.Load() {
			return true
		}
		// Nothing was left to protect: end the old session (if the lock service still has it)
		// and open a new one.
		go closeQuietly(s.Session)
		a.sm.forget()
		a.kickAll()
	}
	return a.g.fenced.Load()
}

// sessionLost runs in the guard at the fence point: stop what may write, without any lock call
// and without waiting for a pass. It reports whether the node must still be reset.
func (a *Agent) sessionLost(_ *session) (bool, string) {
	a.events.emit(api.Event{Type: api.EventSessionLost, Reason: "no renewal before the fence point"})
	a.kickAll() // passes find no session and let their locks go
	// A pass running mdadm was cancelled with the session: let it return so that an array it
	// started is seen and stopped below.
	idle := waitIdle(&a.inflight, a.g.timeout()/2)
	left, err := a.stopExclusive("session lost")
	switch {
	case err != nil:
		return true, "cannot read md: " + err.Error()
	case len(left) > 0:
		return true, fmt.Sprintf("exclusive arrays still running: %v", left)
	case !idle:
		return true, "an mdadm assembly did not end"
	}
	if ls, err := a.paths.lockspaces(); err != nil || len(ls) > 0 {
		return true, fmt.Sprintf("DLM lockspaces in use: %v %v", ls, err)
	}
	return false, ""
}

// stopExclusive stops every managed exclusive array running here and returns those it could
// not stop. md's own state is read, not the agent's memory.
func (a *Agent) stopExclusive(why string) ([]string, error) {
	arrays, err := a.md.Arrays()
	if err != nil {
		return nil, err
	}
	var left []string
	for _, uuid := range a.rec.exclusiveUUIDs() {
		obs := findArray(arrays, uuid)
		if obs == nil {
			continue
		}
		if err := a.md.Stop(obs.Name); err != nil {
			a.log.Error("cannot stop exclusive array", "md", obs.Name, "why", why, "err", err)
			left = append(left, obs.Name)
			continue
		}
		if err := a.paths.recordToken(a.cfg.Node.Name, "stopped", uuid, obs.Name, 0); err != nil {
			a.log.Warn("fencing-token log", "err", err)
		}
		a.log.Warn("stopped exclusive array", "md", obs.Name, "why", why)
		a.events.emit(api.Event{Type: api.EventStopped, Array: a.rec.array(uuid).cfg.Name, UUID: uuid, Reason: why})
	}
	return left, nil
}

func (a *Agent) kickAll() {
	for _, u := range a.rec.uuids() {
		a.q.add(u)
	}
}

// startWorkers runs the queue's workers until the queue stops.
func (a *Agent) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, _, ok := a.q.get()
				if !ok {
					return
				}
				a.health.begin(i)
				res, err := a.rec.Reconcile(ctx, key)
				a.health.end(i)
				a.q.finish(key)
				var term terminalError
				switch {
				case err != nil && !errors.As(err, &term) && !errors.Is(err, errNoSession):
					a.log.Error("reconcile", "array", key, "err", err)
					a.q.addAfter(key, a.q.backoff(key))
				case err != nil:
					a.log.Debug("reconcile", "array", key, "err", err)
				default:
					a.q.forget(key)
					if res.RequeueAfter > 0 {
						a.q.addAfter(key, res.RequeueAfter)
					}
				}
			}
		}()
	}
}

// tick looks at every array every resyncPeriod and finds md-cluster arrays to manage.
func (a *Agent) tick(ctx context.Context) {
	t := time.NewTicker(resyncPeriod)
	defer t.Stop()
	for {
		a.health.tick()
		a.discover()
		a.kickAll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countingMdadm counts the mdadm runs in flight, so the session-lost steps can wait for them.
type countingMdadm struct {
	m Mdadm
	n *atomic.Int64
}

func (c countingMdadm) Run(ctx context.Context, args ...string) ([]byte, error) {
	c.n.Add(1)
	defer c.n.Add(-1)
	return c.m.Run(ctx, args...)
}
