package agent

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/fence"
)

// deadlineSession is a session whose deadline the test sets: the guard's decisions depend on
// nothing else.
type deadlineSession struct {
	dlm.Session
	mu       sync.Mutex
	d        time.Time
	done     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	id       dlm.SessionID
	orphaned bool
}

func newDeadlineSession(d time.Time) *deadlineSession {
	ctx, cancel := context.WithCancel(context.Background())
	return &deadlineSession{d: d, done: make(chan struct{}), ctx: ctx, cancel: cancel, id: 0x1234}
}

func (s *deadlineSession) Deadline() time.Time   { s.mu.Lock(); defer s.mu.Unlock(); return s.d }
func (s *deadlineSession) set(d time.Time)       { s.mu.Lock(); s.d = d; s.mu.Unlock() }
func (s *deadlineSession) Done() <-chan struct{} { return s.done }
func (s *deadlineSession) Ctx() context.Context  { return s.ctx }
func (s *deadlineSession) ID() dlm.SessionID     { return s.id }
func (s *deadlineSession) end()                  { s.cancel(); close(s.done) }
func (s *deadlineSession) Orphan()               { s.orphaned = true }

type fakeWatchdog struct {
	mu       sync.Mutex
	timeout  time.Duration
	pets     int
	disarmed bool
}

func (w *fakeWatchdog) Pet() error             { w.mu.Lock(); w.pets++; w.mu.Unlock(); return nil }
func (w *fakeWatchdog) Timeout() time.Duration { return w.timeout }
func (w *fakeWatchdog) Disarm() error          { w.mu.Lock(); w.disarmed = true; w.mu.Unlock(); return nil }
func (w *fakeWatchdog) count() int             { w.mu.Lock(); defer w.mu.Unlock(); return w.pets }

// guardFixture is a guard with a fake watchdog (T = 1 s), margin 3 s, and a current session
// whose deadline is D.
type guardFixture struct {
	g      *guard
	w      *fakeWatchdog
	s      *deadlineSession
	sm     *sessionManager
	lost   int
	resets int
	// protected is what onLost answers.
	protected bool
}

func newGuardFixture(t *testing.T, d time.Time) *guardFixture {
	f := &guardFixture{w: &fakeWatchdog{timeout: time.Second}, s: newDeadlineSession(d), protected: true}
	f.sm = &sessionManager{paths: Paths{Run: t.TempDir()}, ttl: 15 * time.Second, log: discardLog()}
	f.sm.cur.Store(newSession(f.s, 1, false))
	f.g = &guard{w: f.w, margin: 3 * time.Second, sessions: f.sm, log: discardLog(),
		onLost: func(*session) (bool, string) { f.lost++; return f.protected, "test" },
		reset:  func() error { f.resets++; return nil }, stopPets: make(chan struct{}), done: make(chan struct{})}
	return f
}

// The guard pets only while a pet keeps the reset at least the margin before the deadline:
// at D−M−T it still pets, a nanosecond later it treats the session as lost, stops I/O, forces
// the reset and never pets again.
func TestGuardFencePoint(t *testing.T) {
	d := time.Now().Add(time.Hour)
	f := newGuardFixture(t, d)
	fp := fence.FencePoint(d, 3*time.Second, time.Second)
	if !f.g.check(fp.Add(-time.Second)) || !f.g.check(fp) {
		t.Fatal("the guard gave up before the fence point")
	}
	if f.w.count() != 2 || f.lost != 0 {
		t.Fatalf("pets %d, lost %d before the fence point; want 2, 0", f.w.count(), f.lost)
	}
	if f.g.check(fp.Add(time.Nanosecond)) {
		t.Fatal("the guard goes on after the fence point with something to protect")
	}
	if f.lost != 1 || f.resets != 1 || f.w.count() != 2 || !f.g.fenced.Load() {
		t.Fatalf("after the fence point: lost %d, resets %d, pets %d, fenced %v; want 1, 1, 2, true", f.lost, f.resets, f.w.count(), f.g.fenced.Load())
	}
	select {
	case <-f.sm.cur.Load().lost():
	default:
		t.Fatal("the session is still trusted after its fence point")
	}
}

// With nothing left to protect (the exclusive arrays stopped, no DLM lockspace) a lost
// session does not reset the node: the guard keeps petting and a new session is opened.
func TestGuardLostNothingToProtect(t *testing.T) {
	d := time.Now().Add(time.Hour)
	f := newGuardFixture(t, d)
	f.protected = false
	if !f.g.check(d) {
		t.Fatal("the guard stopped with nothing to protect")
	}
	if f.lost != 1 || f.resets != 0 || f.w.count() != 1 || f.g.fenced.Load() {
		t.Fatalf("lost %d resets %d pets %d fenced %v; want 1 0 1 false", f.lost, f.resets, f.w.count(), f.g.fenced.Load())
	}
	if !f.g.check(d.Add(time.Second)) || f.lost != 1 {
		t.Fatalf("the session-lost steps ran %d times for one session", f.lost)
	}
}

// A session the lock engine ended (expired, closed) is lost at once, whatever its deadline.
func TestGuardEngineEndedSession(t *testing.T) {
	d := time.Now().Add(time.Hour)
	f := newGuardFixture(t, d)
	f.s.end()
	if f.g.check(time.Now()) || f.lost != 1 || f.resets != 1 {
		t.Fatalf("an ended session: lost %d resets %d", f.lost, f.resets)
	}
}

// A renewal moves the fence point on; the guard records the new deadline for a restart, on the
// monotonic clock.
func TestGuardRecordsDeadline(t *testing.T) {
	d := time.Now().Add(10 * time.Second)
	f := newGuardFixture(t, d)
	f.sm.bootID = "boot-1"
	f.g.check(time.Now())
	var rec sessionRecord
	b, err := os.ReadFile(f.sm.paths.sessionFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Session != 0x1234 || rec.BootID != "boot-1" {
		t.Fatalf("record %+v", rec)
	}
	if got := monoToTime(rec.DeadlineMono); got.Sub(d).Abs() > 50*time.Millisecond {
		t.Fatalf("recorded deadline is %s off", got.Sub(d))
	}
	f.s.set(d.Add(5 * time.Second))
	f.g.check(time.Now())
	b, _ = os.ReadFile(f.sm.paths.sessionFile())
	_ = json.Unmarshal(b, &rec)
	if got := monoToTime(rec.DeadlineMono); got.Sub(d.Add(5*time.Second)).Abs() > 50*time.Millisecond {
		t.Fatalf("the renewal was not recorded: %s off", got.Sub(d.Add(5*time.Second)))
	}
}

// A restarted agent pets against its predecessor's recorded deadline until it has resumed the
// session; if the fence point comes first, whatever that session ran is stopped and the node
// reset.
func TestGuardRecordedDeadline(t *testing.T) {
	d := time.Now().Add(time.Hour)
	f := newGuardFixture(t, d)
	f.sm.cur.Store(nil)
	f.sm.recorded.Store(&d)
	fp := fence.FencePoint(d, 3*time.Second, time.Second)
	if !f.g.check(fp) || f.w.count() != 1 {
		t.Fatal("the restarted agent did not pet against the recorded deadline")
	}
	if f.g.check(fp.Add(time.Millisecond)) || f.lost != 1 || f.resets != 1 {
		t.Fatalf("past the recorded fence point: lost %d resets %d", f.lost, f.resets)
	}
}

// A clean stop with nothing to protect disarms the watchdog; otherwise it pets it one last
// time and leaves it armed for the next agent.
func TestGuardFinish(t *testing.T) {
	for _, disarm := range []bool{true, false} {
		f := newGuardFixture(t, time.Now().Add(time.Hour))
		go f.g.run()
		f.g.finish(disarm)
		if f.w.disarmed != disarm {
			t.Fatalf("finish(%v): disarmed %v", disarm, f.w.disarmed)
		}
		if f.w.count() < 1 {
			t.Fatal("no pet")
		}
	}
}

// The watchdog period is a quarter of its timeout, at most 250 ms.
func TestGuardPeriod(t *testing.T) {
	g := &guard{w: &fakeWatchdog{timeout: 3 * time.Second}}
	if g.period() != 250*time.Millisecond {
		t.Fatal(g.period())
	}
	g.w = &fakeWatchdog{timeout: 500 * time.Millisecond}
	if g.period() != 125*time.Millisecond {
		t.Fatal(g.period())
	}
}
