package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

// recorder collects the events of a test node's passes.
type recorder struct {
	mu  sync.Mutex
	evs []api.Event
}

func (r *recorder) emit(ev api.Event) { r.mu.Lock(); r.evs = append(r.evs, ev); r.mu.Unlock() }

// types lists the recorded types, each with its reason after a colon when it has one.
func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		out = append(out, e.Type)
	}
	return out
}

func (r *recorder) reset() { r.mu.Lock(); r.evs = nil; r.mu.Unlock() }

func recordEvents(n *tnode) *recorder {
	r := &recorder{}
	n.rec.d.Events = r.emit
	return r
}

// The decisions of an exclusive array's life, one event each: lease granted and assembled, a
// sync held back then started under the lease and finished, a stop of a copy running without
// the lease.
func TestEventsOfExclusiveArray(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid1)
	rec := recordEvents(n)
	n.open()
	n.mustPass(raid1.UUID)
	if got := rec.types(); !slices.Equal(got[:2], []string{api.EventLeaseGranted, api.EventAssembled}) {
		t.Fatalf("first pass: %q", got)
	}
	if rec.evs[0].Array != "mirror" || rec.evs[0].UUID != raid1.UUID || rec.evs[0].Fields["kind"] != api.KindActivation {
		t.Fatalf("lease event %+v", rec.evs[0])
	}
	n.rec.array(raid1.UUID).unfrozen = time.Now().Add(-time.Hour)
	n.mustPass(raid1.UUID)
	rec.reset()
	n.md.set(t, "md0", "sync_action", "resync")
	n.mustPass(raid1.UUID) // held back
	n.mustPass(raid1.UUID) // started under the lease
	n.md.set(t, "md0", "sync_action", "idle")
	n.md.set(t, "md0", "last_sync_action", "resync")
	n.rec.array(raid1.UUID).unfrozen = time.Now().Add(-time.Hour)
	n.mustPass(raid1.UUID) // finished
	want := []string{api.EventResyncHeld, api.EventResyncStarted, api.EventResyncFinished}
	if got := rec.types(); !slices.Equal(got, want) {
		t.Fatalf("sync events %q, want %q", got, want)
	}
	if f := rec.evs[2].Fields["last_sync_action"]; f != "resync" {
		t.Fatalf("finished: %+v", rec.evs[2])
	}
	// The lease goes (a takeover): the copy here stops, and says why.
	rec.reset()
	st := n.rec.array(raid1.UUID)
	if err := st.act.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _ = n.pass(raid1.UUID)
	if got := rec.types(); !slices.Equal(got, []string{api.EventLeaseLost, api.EventStopped}) {
		t.Fatalf("after the lease went: %q", got)
	}
}

// emit never waits: with the writer stopped, a full queue drops and counts the rest.
func TestEventQueueNeverBlocks(t *testing.T) {
	e := newEventLog("node1", "/mdcluster/", dlm.Retention{}, func() *session { return nil }, discardLog())
	done := make(chan struct{})
	go func() {
		for range eventQueueLen + 5 {
			e.emit(api.Event{Type: api.EventAssembled})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("emit waited on a full queue")
	}
	counts, dropped, failed := e.counters()
	if counts[api.EventAssembled] != eventQueueLen || dropped != 5 || failed != 0 {
		t.Fatalf("counts %v dropped %d failed %d", counts, dropped, failed)
	}
	if e.flush(50 * time.Millisecond) {
		t.Fatal("flush reported an empty queue")
	}
}

// The writer appends events in order under the current session; a refused write is retried,
// and one refused every time is counted as failed without holding up the next.
func TestEventWriter(t *testing.T) {
	old := eventRetry
	eventRetry = 10 * time.Millisecond
	t.Cleanup(func() { eventRetry = old })
	c := newCluster(t)
	n := c.node("node1", 1)
	s := n.open()
	e := newEventLog("node1", "/mdcluster/", dlm.Retention{MaxCount: 100}, n.current, discardLog())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.run(ctx)
	c.svc.FailCalls(2)
	e.emit(api.Event{Type: api.EventAssembled, Array: "a"})
	e.emit(api.Event{Type: api.EventStopped, Array: "a", Reason: "why"})
	if !e.flush(10 * time.Second) {
		t.Fatal("queue not written")
	}
	c.svc.FailCalls(eventAttempts)
	e.emit(api.Event{Type: api.EventSessionLost})
	e.emit(api.Event{Type: api.EventSessionOpened})
	if !e.flush(10 * time.Second) {
		t.Fatal("queue not written")
	}
	kvs, _, err := sessionLog(s).Since(t.Context(), e.prefix, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		ev, err := decodeEvent(kv)
		if err != nil || ev.Node != "node1" || ev.Time.IsZero() || ev.Seq != kv.ModRevision {
			t.Fatalf("event %+v %v", ev, err)
		}
		got = append(got, ev.Type+":"+ev.Reason)
	}
	want := []string{api.EventAssembled + ":", api.EventStopped + ":why", api.EventSessionOpened + ":"}
	if !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	if _, _, failed := e.counters(); failed != 1 {
		t.Fatalf("failed %d, want 1", failed)
	}
	if _, err := decodeEvent(dlm.KeyValue{Key: "k", Value: []byte("{")}); err == nil {
		t.Fatal("garbage decoded")
	}
}

// The agent logs its session, its first configuration and its decisions; any node reads the log
// (all of it, after a sequence number, or following it) and a local program reports its actions
// with the caller's pid and uid.
func TestAgentEventLog(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	read := func(since int64, limit int) []api.Event {
		var out []api.Event
		if err := a.Events(t.Context(), since, limit, false, func(e api.Event) error { out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var evs []api.Event
	eventually(t, "assembly logged", func() bool {
		evs = read(0, 0)
		return slices.ContainsFunc(evs, func(e api.Event) bool { return e.Type == api.EventAssembled })
	})
	types := map[string]bool{}
	for i, e := range evs {
		types[e.Type] = true
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Fatalf("sequence not increasing: %+v", evs)
		}
	}
	for _, want := range []string{api.EventSessionOpened, api.EventConfigChanged, api.EventLeaseGranted, api.EventAssembled} {
		if !types[want] {
			t.Errorf("no %s in %+v", want, evs)
		}
	}
	if got := read(evs[0].Seq, 1); len(got) != 1 || got[0].Seq != evs[1].Seq {
		t.Fatalf("since %d limit 1: %+v", evs[0].Seq, got)
	}
	// follow: a report made meanwhile arrives.
	fctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan api.Event, 16)
	go a.Events(fctx, evs[len(evs)-1].Seq, 0, true, func(e api.Event) error { got <- e; return nil })
	if err := a.Report(t.Context(), api.ReportRequest{Type: api.EventMdcadm, Array: "data",
		Fields: map[string]string{"args": "--stop /dev/md/data", "uid": "1000"}}, api.Peer{PID: 42, UID: 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Type != api.EventMdcadm || e.UUID != raid5.UUID || e.Fields["peer_pid"] != "42" || e.Fields["args"] != "--stop /dev/md/data" {
			t.Fatalf("followed %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow saw no report")
	}
	var bad *api.BadRequest
	if err := a.Report(t.Context(), api.ReportRequest{Type: api.EventFenceDone}, api.Peer{}); !errors.As(err, &bad) {
		t.Fatalf("a forged agent event: %v", err)
	}
	// A clean stop logs its stop and release before it ends the session.
	cancel()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	s, err := c.svc.Engine().NewSession(t.Context(), dlm.WithTTL(15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvs, _, err := s.(dlm.StoreSession).Store().(dlm.Log).Since(t.Context(), "/mdcluster/events/", evs[len(evs)-1].Seq, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last []string
	for _, kv := range kvs {
		e, _ := decodeEvent(kv)
		last = append(last, e.Type+":"+e.Reason)
	}
	if !slices.Contains(last, api.EventStopped+":mdclusterd stopping") || !slices.Contains(last, api.EventLeaseReleased+":mdclusterd stopping") {
		t.Fatalf("after the clean stop: %q", last)
	}
	if c := a.Counters(); c.Events[api.EventAssembled] != 1 || c.EventsDropped != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// A node started with another configuration than it last recorded logs which sections changed.
func TestConfigChangedEvent(t *testing.T) {
	c := newCluster(t)
	run := t.TempDir()
	a := c.agent("node1", 1, nil, run, raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	b := c.agent("node1", 1, nil, run, raid5)
	b.cfg.Resync = config.Resync{MaxConcurrent: 2}
	b.start()
	eventually(t, "config change logged", func() bool {
		found := false
		_ = b.Events(t.Context(), 0, 0, false, func(e api.Event) error {
			found = found || (e.Type == api.EventConfigChanged && strings.Contains(e.Reason, "changed: resync"))
			return nil
		})
		return found
	})
}

// A follower gets what is appended after it caught up, and reads on from its last event when
// its watch breaks (the lock service lost quorum for a while): nothing skipped, nothing twice.
func TestEventFollowSurvivesWatchFailure(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir())
	a.start()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan api.Event, 64)
	var last int64
	eventually(t, "the start logged", func() bool {
		n := 0
		_ = a.Events(t.Context(), 0, 0, false, func(e api.Event) error { last, n = e.Seq, n+1; return nil })
		return n == 2 // session_opened, config_changed
	})
	go a.Events(ctx, last, 0, true, func(e api.Event) error { got <- e; return nil })
	report := func(n string) {
		t.Helper()
		if err := a.Report(t.Context(), api.ReportRequest{Type: api.EventMdcadm, Reason: n}, api.Peer{}); err != nil {
			t.Fatal(err)
		}
	}
	next := func() api.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(15 * time.Second):
			t.Fatal("follower got nothing")
			return api.Event{}
		}
	}
	time.Sleep(100 * time.Millisecond) // the follower is watching now (either way it must see it)
	report("one")
	if e := next(); e.Reason != "one" {
		t.Fatalf("first %+v", e)
	}
	c.svc.Fail() // the watch ends with an error
	time.Sleep(300 * time.Millisecond)
	c.svc.Heal()
	report("two")
	if e := next(); e.Reason != "two" {
		t.Fatalf("after the watch broke: %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("an event twice or unexpected: %+v", e)
	case <-time.After(300 * time.Millisecond):
	}
}

// Without a session there is no log to read.
func TestEventsWithoutSession(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir())
	if err := a.Events(t.Context(), 0, 0, false, func(api.Event) error { return nil }); err == nil {
		t.Fatal("read a log without a session")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := a.Events(ctx, 0, 0, true, func(api.Event) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("follow without a session: %v, want it to wait for one", err)
	}
}
