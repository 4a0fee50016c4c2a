package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/memlock"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/controld"
	"mdcluster.dev/mdcluster/fence"
	"mdcluster.dev/mdcluster/md"
)

// tagent is a whole agent (Run: session manager, guard, workers, API) over test md, a fake
// watchdog and the cluster's in-memory lock service.
type tagent struct {
	*Agent
	t      *testing.T
	md     *testMD
	mdadm  *fakeMdadm
	wd     *fakeWatchdog
	resets atomic.Int32
	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
}

func (c *cluster) agent(name string, id int, md *testMD, run string, arrays ...config.Array) *tagent {
	t := c.t
	cfg := &config.Config{Node: config.Node{Name: name, ID: id}, Cluster: config.Cluster{Name: "mdlab"},
		LockEngine: config.LockEngine{Type: config.EngineExternal, Prefix: "/mdcluster/"}, Arrays: arrays,
		Leases: config.Leases{TTL: config.Duration{Duration: 15 * time.Second}, Watchdog: "/dev/watchdog",
			WatchdogMargin: config.Duration{Duration: 5 * time.Second}},
		Resync: config.Resync{MaxConcurrent: 1},
		Listen: config.Listen{APISocket: filepath.Join(run, "api.sock")}}
	if md == nil {
		md = newTestMD(t)
	}
	ta := &tagent{t: t, md: md, wd: &fakeWatchdog{timeout: 2 * time.Second}, ready: make(chan struct{})}
	ta.mdadm = &fakeMdadm{md: md, t: t, captures: captureOf}
	sys := t.TempDir()
	ta.Agent = &Agent{cfg: cfg, log: testLog(t), md: md, mdadm: ta.mdadm, hold: func() {},
		paths: Paths{Sys: sys, Dev: t.TempDir(), Run: run, SysrqTrigger: filepath.Join(sys, "sysrq-trigger"),
			BootID: filepath.Join(run, "boot_id")}}
	if err := os.WriteFile(ta.paths.BootID, []byte("boot-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := c.svc.Engine()
	ta.openEngine = func(context.Context) (dlm.Engine, func(), error) { return eng, func() {}, nil }
	ta.openWatchdog = func(time.Duration, bool) (Watchdog, string) { return ta.wd, "" }
	ta.reset = func() error { ta.resets.Add(1); return nil }
	ta.init()
	return ta
}

// start runs the agent until stop; the guard's forced reset is counted instead of done.
func (ta *tagent) start() {
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel, ta.done = cancel, make(chan error, 1)
	var once atomic.Bool
	go func() {
		ta.done <- ta.Run(ctx, func(string) {
			if once.CompareAndSwap(false, true) {
				close(ta.ready)
			}
		})
	}()
	select {
	case <-ta.ready:
	case err := <-ta.done:
		ta.t.Fatalf("agent ended: %v", err)
	case <-time.After(10 * time.Second):
		ta.t.Fatal("agent not ready")
	}
	ta.t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
		case <-time.After(20 * time.Second):
		}
	})
}

// stop is a clean stop (SIGTERM); it returns Run's result.
func (ta *tagent) stop() error {
	ta.cancel()
	select {
	case err := <-ta.done:
		ta.done <- err
		return err
	case <-time.After(20 * time.Second):
		ta.t.Fatal("agent did not stop")
		return nil
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A clean stop stops the exclusive array first, then gives its lease back, closes the session,
// removes the session file and disarms the watchdog (item 1: the lease went while the array ran).
func TestAgentCleanStop(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	if _, err := os.Stat(a.paths.sessionFile()); err != nil {
		t.Fatalf("no session file: %v", err)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	if a.md.present("md1") {
		t.Fatal("the array still runs after a clean stop")
	}
	if h := c.holders(actResource(raid5.UUID)); len(h) != 0 {
		t.Fatalf("lease still held: %+v", h)
	}
	if !a.wd.disarmed || len(c.svc.Sessions()) != 0 {
		t.Fatalf("disarmed %v, sessions left %v", a.wd.disarmed, c.svc.Sessions())
	}
	if _, err := os.Stat(a.paths.sessionFile()); !os.IsNotExist(err) {
		t.Fatalf("session file left: %v", err)
	}
}

// A clean stop with the array in use keeps its lease and session, leaves the watchdog armed and
// says so; the restarted agent resumes the session and adopts the lease: no stop, no second
// assembly, nobody else takes the array (items 1 and 4).
func TestAgentCleanStopInUseThenRestart(t *testing.T) {
	c := newCluster(t)
	run := t.TempDir()
	a := c.agent("node1", 1, nil, run, raid5)
	b := c.agent("node2", 2, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	b.start()
	eventually(t, "node2 waits", func() bool { return b.rec.array(raid5.UUID).getView().holder == "node1" })
	a.md.busy["md1"] = true
	err := a.stop()
	if err == nil || !strings.Contains(err.Error(), "watchdog armed") {
		t.Fatalf("stop with the array in use: %v", err)
	}
	if a.wd.disarmed || !a.md.present("md1") || len(c.holders(actResource(raid5.UUID))) != 1 {
		t.Fatalf("disarmed %v, array %v, holders %v", a.wd.disarmed, a.md.present("md1"), c.holders(actResource(raid5.UUID)))
	}
	if _, err := os.Stat(a.paths.sessionFile()); err != nil {
		t.Fatalf("the session file went: %v", err)
	}
	a2 := c.agent("node1", 1, a.md, run, raid5)
	a2.start()
	eventually(t, "resumed and adopted", func() bool { return a2.rec.array(raid5.UUID).getView().actHere })
	if a2.assembled() != 0 || !a.md.present("md1") {
		t.Fatalf("restart: assemblies %d, array running %v", a2.assembled(), a.md.present("md1"))
	}
	if !a2.sm.current().resumed {
		t.Fatal("the restarted agent opened a new session")
	}
	time.Sleep(300 * time.Millisecond)
	if b.md.present("md1") {
		t.Fatal("node2 took the array over during the restart")
	}
}

func (ta *tagent) assembled() int {
	k := 0
	for _, c := range ta.mdadm.log() {
		if strings.HasPrefix(c, "--assemble") {
			k++
		}
	}
	return k
}

func (ta *tagent) stops() int {
	k := 0
	for _, w := range ta.md.log() {
		if strings.HasSuffix(w, " stop") {
			k++
		}
	}
	return k
}

// The session ends under the agent (expired at the lock service): the guard stops the
// exclusive array at once; with it stopped nothing is left to protect, so no reset, and a new
// session takes over.
func TestAgentSessionLost(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	old := a.sm.current()
	c.svc.Expire(old.id)
	eventually(t, "stopped", func() bool { return a.stops() >= 1 })
	eventually(t, "new session", func() bool { s := a.sm.current(); return s != nil && s != old })
	if a.resets.Load() != 0 {
		t.Fatal("reset with nothing left to protect")
	}
}

// A lost session with an array that cannot be stopped resets the node, and Run reports it.
func TestAgentSessionLostInUse(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	a.md.busy["md1"] = true
	c.svc.Expire(a.sm.current().id)
	select {
	case err := <-a.done:
		if !errors.Is(err, errFenced) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end")
	}
	if a.resets.Load() != 1 {
		t.Fatalf("resets %d", a.resets.Load())
	}
	a.done <- errFenced
}

// The API: a node that does not hold the activation lease is refused, naming the holder; a
// release on the holder is a clean stop that hands the array over; the status names holders.
func TestAgentAPI(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	b := c.agent("node2", 2, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	b.start()
	ctx := t.Context()
	cl := api.NewClient(b.cfg.Listen.APISocket)
	_, err := cl.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindActivation})
	var re *api.RemoteError
	if !errors.As(err, &re) || re.Body.Holder != "node1" {
		t.Fatalf("node2 acquire through the API: %v", err)
	}
	var held *api.HeldError
	g, err := a.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindActivation})
	if err != nil || g.Token == 0 {
		t.Fatalf("node1 acquire: %+v %v", g, err)
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 2 || len(st.Arrays) != 1 || st.Arrays[0].ActiveOn != "node1" || !st.Session.Valid {
		t.Fatalf("status %+v", st)
	}
	if err := a.Release(ctx, api.ReleaseRequest{Array: "data", Kind: api.KindActivation, Token: g.Token + 1}); err == nil {
		t.Fatal("release with a wrong token accepted")
	}
	if err := a.Release(ctx, api.ReleaseRequest{Array: "data", Kind: api.KindActivation, Token: g.Token}); err != nil {
		t.Fatal(err)
	}
	if a.md.present("md1") {
		t.Fatal("released while running")
	}
	eventually(t, "node2 took over", func() bool { return b.md.present("md1") })
	if _, err := a.Acquire(ctx, api.AcquireRequest{Array: "nope", Kind: api.KindActivation}); err == nil {
		t.Fatal("unknown array accepted")
	}
	// A caller's admin lease is exclusive across the cluster.
	ga, err := a.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindAdmin}); !errors.As(err, &held) {
		t.Fatalf("second admin lease: %v", err)
	}
	if err := a.Release(ctx, api.ReleaseRequest{Array: "data", Kind: api.KindAdmin, Token: ga.Token}); err != nil {
		t.Fatal(err)
	}
	// The recovery lease for mdcadm --add on the node that runs the array.
	gr, err := b.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindRecovery, Owner: "mdcadm"})
	if err != nil || gr.Token == 0 {
		t.Fatalf("recovery lease: %+v %v", gr, err)
	}
	if err := b.Release(ctx, api.ReleaseRequest{Array: "data", Kind: api.KindRecovery, Token: gr.Token}); err != nil {
		t.Fatal(err)
	}
}

// md-cluster arrays of this cluster that run here without a configuration entry are watched
// (status) and never held back; arrays of another cluster are left alone (item 17).
func TestAgentDiscoversClusteredArrays(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir())
	_, devDir := lab(t)
	a.paths.Dev = devDir
	a.md.load(t, "raid1-bitmap")
	a.md.set(t, "md0", "bitmap/metadata", "clustered")
	a.discover()
	st := a.rec.array(raid1.UUID)
	if st == nil || st.cfg.Mode != config.ModeClustered || st.cfg.Name != "cl" || !st.discovered {
		t.Fatalf("discovered %+v", st)
	}
	a.cfg.Cluster.Name = "other"
	a2 := c.agent("node1", 1, a.md, t.TempDir())
	a2.paths.Dev = devDir
	a2.cfg.Cluster.Name = "other"
	a2.discover()
	if a2.rec.array(raid1.UUID) != nil {
		t.Fatal("an array of another cluster was taken")
	}
	if err := a.md.Stop("md0"); err != nil {
		t.Fatal(err)
	}
	a.discover()
	if a.rec.array(raid1.UUID) != nil {
		t.Fatal("a stopped discovered array is still watched")
	}
}

// With dlm_control mdclusterd the control plane rides the agent's session (its node key is
// bound to it) and answers the lockspace events of the agent's uevent reader. A session lost
// while a DLM lockspace is in use resets the node: its peers will recover its md-cluster slot.
func TestAgentControlPlane(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid10)
	a.cfg.Node.Address = "10.0.0.1"
	a.cfg.DLMControl = config.DLMControl{Mode: config.ControlMdclusterd}
	root := t.TempDir()
	a.controldFS = controld.ConfigFS{Cluster: filepath.Join(root, "config", "dlm", "cluster"), Sys: filepath.Join(root, "sys", "dlm")}
	if err := errors.Join(os.MkdirAll(a.controldFS.Sys, 0o755), os.MkdirAll(filepath.Dir(a.controldFS.Cluster), 0o755)); err != nil {
		t.Fatal(err)
	}
	// As configfs would: the cluster directory with its name, then its default groups.
	if _, err := a.controldFS.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"comms", "spaces"} {
		if err := os.MkdirAll(filepath.Join(a.controldFS.Cluster, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a.controldMonitor = filepath.Join(root, "dlm-monitor")
	if err := os.WriteFile(a.controldMonitor, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	s := a.sm.current()
	eventually(t, "node key bound to the agent's session", func() bool {
		kvs, _, err := s.Session.(dlm.StoreSession).Store().Get(t.Context(), "/mdcluster/controld/nodes/1", 0)
		return err == nil && len(kvs) == 1 && kvs[0].Session == s.id
	})
	const ls = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	if err := os.MkdirAll(filepath.Join(a.controldFS.Sys, ls), 0o755); err != nil {
		t.Fatal(err)
	}
	a.lockspaceEvent(&md.LockspaceEvent{Action: "online", Lockspace: ls})
	eventually(t, "the join answered", func() bool {
		_, err := os.Stat(filepath.Join(a.controldFS.Sys, ls, "event_done"))
		return err == nil
	})
	if err := os.MkdirAll(filepath.Join(a.paths.Sys, "kernel", "dlm", ls), 0o755); err != nil {
		t.Fatal(err)
	}
	c.svc.Expire(s.id)
	select {
	case err := <-a.done:
		if !errors.Is(err, errFenced) {
			t.Fatalf("Run: %v", err)
		}
		a.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("a node with a lockspace in use was not fenced")
	}
	if a.resets.Load() != 1 {
		t.Fatalf("resets %d", a.resets.Load())
	}
}

// hangingSession is a memlock session whose CheckToken hangs while hang is open, whatever its
// context says: an etcd call stuck on a dead network.
type hangingSession struct {
	*memlock.Session
	hang *atomic.Pointer[chan struct{}]
}

func (s hangingSession) CheckToken(ctx context.Context, res string, tok dlm.Token) error {
	if ch := s.hang.Load(); ch != nil {
		<-*ch
	}
	return s.Session.CheckToken(ctx, res, tok)
}

type hangingEngine struct {
	*memlock.Engine
	hang *atomic.Pointer[chan struct{}]
}

func (e hangingEngine) NewSession(ctx context.Context, opts ...dlm.SessionOption) (dlm.Session, error) {
	s, err := e.Engine.Open(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return hangingSession{s, e.hang}, nil
}

// Stopping I/O after a session loss never waits behind a lock-service call (item 15): with a
// pass stuck in an etcd call that never returns, the guard stops the exclusive array as soon as
// the session is lost.
func TestSessionLostDoesNotWaitForLockCalls(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	var hang atomic.Pointer[chan struct{}]
	eng := hangingEngine{c.svc.Engine(), &hang}
	a.openEngine = func(context.Context) (dlm.Engine, func(), error) { return eng, func() {}, nil }
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	ch := make(chan struct{})
	hang.Store(&ch)
	defer close(ch)
	a.q.add(raid5.UUID)
	time.Sleep(200 * time.Millisecond) // the pass is now stuck in CheckToken
	c.svc.Expire(a.sm.current().id)
	eventually(t, "the array stopped while a pass hangs in the lock service", func() bool { return !a.md.present("md1") })
	if a.resets.Load() != 0 {
		t.Fatal("reset with the array stopped")
	}
	hang.Store(nil)
}

// writeRecord leaves a session record as a previous process would have.
func writeRecord(t *testing.T, a *tagent, id dlm.SessionID, deadline time.Time, timeout time.Duration) {
	t.Helper()
	b, _ := json.Marshal(sessionRecord{Session: id, BootID: "boot-1", DeadlineMono: timeToMono(deadline), Timeout: timeout})
	if err := writeFileAtomic(a.paths.sessionFile(), b); err != nil {
		t.Fatal(err)
	}
}

// A restarted agent past its predecessor's fence point never opens the watchdog (its close at
// this process's exit would make the kernel ping it, and each restart would buy another
// timeout: found by the model, scripts/model). With an array it cannot stop it resets the node
// at once; with nothing left running it starts as usual.
func TestStartPastFencePoint(t *testing.T) {
	for _, busy := range []bool{true, false} {
		c := newCluster(t)
		a := c.agent("node1", 1, nil, t.TempDir(), raid5)
		a.md.load(t, "raid5-nobitmap")
		a.md.busy["md1"] = busy
		opened := false
		a.openWatchdog = func(time.Duration, bool) (Watchdog, string) { opened = true; return a.wd, "" }
		writeRecord(t, a, 0x77, time.Now().Add(2*time.Second), 2*time.Second) // F is 6 s ago
		if busy {
			ctx, cancel := context.WithCancel(t.Context())
			err := a.Run(ctx, nil)
			cancel()
			if !errors.Is(err, errFenced) || opened || a.resets.Load() != 1 {
				t.Fatalf("busy: Run %v, watchdog opened %v, resets %d", err, opened, a.resets.Load())
			}
			continue
		}
		a.start()
		if a.md.present("md1") && a.stops() == 0 {
			t.Fatal("the array the previous session ran was not stopped")
		}
		if !opened || a.resets.Load() != 0 {
			t.Fatalf("idle: watchdog opened %v, resets %d", opened, a.resets.Load())
		}
	}
}

// A recorded session the lock service says is gone: whatever it ran may run elsewhere now, so
// it is stopped before a new session is opened.
func TestStartPreviousSessionGone(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	a.md.load(t, "raid5-nobitmap")
	b := c.agent("node2", 2, nil, t.TempDir(), raid5)
	b.start()
	eventually(t, "node2 assembled", func() bool { return b.md.present("md1") })
	writeRecord(t, a, 0x77, time.Now().Add(time.Hour), 2*time.Second) // an id the service never had
	sessionsAtStop := -1
	a.md.onStop = func() {
		if sessionsAtStop < 0 {
			sessionsAtStop = len(c.svc.Sessions())
		}
	}
	a.start()
	if w := a.md.log(); len(w) == 0 || w[0] != "md1 stop" || sessionsAtStop != 1 {
		t.Fatalf("md writes %q, sessions at the stop %d: the copy the gone session ran was not stopped before a new session", w, sessionsAtStop)
	}
	if a.resets.Load() != 0 {
		t.Fatal("reset though the copy stopped")
	}
}

// A restarted agent knows its predecessor's recorded deadline before it opens the watchdog:
// until the lock engine is up it pets only against that deadline, never without one (the model
// found a restarted agent that petted freely while the engine came up, past the old session's
// expiry). It hands the recorded timeout to the opening (kept armed, never lengthened); a
// predecessor that ran without a watchdog (timeout 0) hands none, so a failed set-up does not
// leave an unpetted watchdog counting down (review of c948591).
func TestStartRecordBeforeWatchdog(t *testing.T) {
	for _, recTimeout := range []time.Duration{2 * time.Second, 0} {
		c := newCluster(t)
		a := c.agent("node1", 1, nil, t.TempDir(), raid5)
		a.md.load(t, "raid5-nobitmap")
		d := time.Now().Add(time.Hour)
		writeRecord(t, a, 0x77, d, recTimeout)
		var recordedAtOpen *time.Time
		prev := time.Duration(-1)
		a.openWatchdog = func(p time.Duration, _ bool) (Watchdog, string) {
			recordedAtOpen, prev = a.sm.recorded.Load(), p
			return a.wd, ""
		}
		a.start()
		if recordedAtOpen == nil || recordedAtOpen.Sub(d).Abs() > time.Millisecond || prev != recTimeout {
			t.Fatalf("record with timeout %s, at the watchdog's opening: recorded deadline %v (want %v), prev %s", recTimeout, recordedAtOpen, d, prev)
		}
	}
}

// While mdadm runs (here it hangs), the status answers and a caller that goes away does not
// interrupt the assembly: no handler waits on a mutex held across mdadm, and the request's
// context bounds only the caller's wait (review item 12).
func TestAPIWhileMdadmHangs(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	block := make(chan struct{})
	a.mdadm.mu.Lock()
	a.mdadm.block = block
	a.mdadm.mu.Unlock()
	a.start()
	eventually(t, "mdadm running", func() bool { return len(a.mdadm.log()) == 1 })
	sctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	st, err := a.Status(sctx)
	cancel()
	if err != nil || len(st.Arrays) != 1 {
		t.Fatalf("status while mdadm runs: %+v %v", st, err)
	}
	// The status says how long the lock service may be silent before this node resets itself,
	// with the timeout the driver accepted.
	if l := a.cfg.Leases; st.Session.WatchdogTimeout != a.wd.Timeout() || st.Session.WatchdogTimeout == 0 ||
		st.Session.SilenceTolerated != fence.StoreSilence(l.TTL.Duration, l.WatchdogMargin.Duration, a.wd.Timeout()) {
		t.Errorf("status session %+v, watchdog timeout %s", st.Session, a.wd.Timeout())
	}
	actx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err = a.Acquire(actx, api.AcquireRequest{Array: "data", Kind: api.KindActivation})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire by a caller that gave up: %v", err)
	}
	close(block)
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	if calls := a.mdadm.log(); len(calls) != 1 {
		t.Fatalf("mdadm ran %d times (%q): the caller's going away interrupted the assembly", len(calls), calls)
	}
}
