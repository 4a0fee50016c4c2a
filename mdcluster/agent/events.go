package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
)

// eventQueueLen bounds the events waiting for the lock service. A decision never waits for an
// event write: when the queue is full (the lock service slow or away for long), new events are
// dropped and counted, and the decision goes on.
const eventQueueLen = 1024

// eventAttempts is how many times a write the lock service refused is tried before the event is
// counted as failed.
const eventAttempts = 5

// eventRetry separates the attempts (a variable for the tests).
var eventRetry = time.Second

// eventLog is the agent's side of the cluster's event log: decisions emit events into a bounded
// queue, and one writer appends them to the lock service's log (dlm.Log) under the node's
// current session, in the order they were emitted.
type eventLog struct {
	node     string
	prefix   string // <lock_engine.prefix>events/
	keep     dlm.Retention
	sessions func() *session
	log      *slog.Logger

	ch      chan api.Event
	pending atomic.Int64 // emitted, not yet written or given up
	dropped atomic.Uint64
	failed  atomic.Uint64
	mu      sync.Mutex
	counts  map[string]uint64
}

func newEventLog(node, prefix string, keep dlm.Retention, sessions func() *session, log *slog.Logger) *eventLog {
	return &eventLog{node: node, prefix: strings.TrimSuffix(prefix, "/") + "/events/", keep: keep, sessions: sessions,
		log: log, ch: make(chan api.Event, eventQueueLen), counts: map[string]uint64{}}
}

// emit queues ev for the log without ever waiting; it fills in the node and the time.
func (e *eventLog) emit(ev api.Event) {
	if e == nil {
		return
	}
	ev.Node = e.node
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.pending.Add(1)
	select {
	case e.ch <- ev:
		e.mu.Lock()
		e.counts[ev.Type]++
		e.mu.Unlock()
	default:
		e.pending.Add(-1)
		e.dropped.Add(1)
		e.log.Warn("event queue full: event dropped", "type", ev.Type, "array", ev.Array)
	}
}

// run writes the queued events until ctx ends.
func (e *eventLog) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-e.ch:
			e.write(ctx, ev)
			e.pending.Add(-1)
		}
	}
}

// write appends one event, waiting for a session and retrying a refused write a few times.
func (e *eventLog) write(ctx context.Context, ev api.Event) {
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen: strings and a time
		e.failed.Add(1)
		return
	}
	for attempt := 1; ctx.Err() == nil; {
		lg := e.current()
		if lg == nil {
			if e.noLog() { // an engine without a store (the kernel DLM): the agent's own log only
				e.log.Info("event", "type", ev.Type, "array", ev.Array, "reason", ev.Reason, "fields", ev.Fields)
				return
			}
			sleepCtx(ctx, 200*time.Millisecond) // no session yet: the queue holds the event
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := lg.Append(cctx, e.prefix, b, e.keep)
		cancel()
		if err == nil {
			return
		}
		if attempt >= eventAttempts {
			e.failed.Add(1)
			e.log.Error("event not logged: the lock service refused it", "type", ev.Type, "array", ev.Array, "err", err)
			return
		}
		attempt++
		sleepCtx(ctx, eventRetry)
	}
}

// current returns the current session's log, or nil.
func (e *eventLog) current() dlm.Log {
	s := e.sessions()
	if s == nil || !s.valid() {
		return nil
	}
	return sessionLog(s)
}

// noLog reports whether the current session's engine keeps no log at all.
func (e *eventLog) noLog() bool {
	s := e.sessions()
	return s != nil && s.valid() && sessionLog(s) == nil
}

// sessionLog is the log of a session's store, or nil when its engine has none.
func sessionLog(s *session) dlm.Log {
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return nil
	}
	lg, _ := ss.Store().(dlm.Log)
	return lg
}

// flush waits until every queued event is written or given up, at most d: a clean stop writes
// its last events (arrays stopped, leases released) before it closes the session.
func (e *eventLog) flush(d time.Duration) bool {
	if e == nil {
		return true
	}
	deadline := time.Now().Add(d)
	for e.pending.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// counters returns the events emitted by type and those dropped or failed.
func (e *eventLog) counters() (map[string]uint64, uint64, uint64) {
	if e == nil {
		return map[string]uint64{}, 0, 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.counts), e.dropped.Load(), e.failed.Load()
}

// decodeEvent turns a log record into an event; its sequence number is the record's revision.
func decodeEvent(kv dlm.KeyValue) (api.Event, error) {
	var ev api.Event
	if err := json.Unmarshal(kv.Value, &ev); err != nil {
		return ev, errors.New("undecodable event " + kv.Key + ": " + err.Error())
	}
	ev.Seq = kv.ModRevision
	return ev, nil
}

// event emits an event about an array (st nil: none) from a pass. kv are field name/value
// pairs.
func (r *Reconciler) event(typ string, st *arrayState, reason string, kv ...string) {
	if r.d.Events == nil {
		return
	}
	ev := api.Event{Type: typ, Reason: reason, Fields: fields(kv...)}
	if st != nil {
		ev.Array, ev.UUID = st.cfg.Name, st.cfg.UUID
	}
	r.d.Events(ev)
}

func fields(kv ...string) map[string]string {
	if len(kv) < 2 {
		return nil
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
