package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
)

var _ api.EventBackend = (*Agent)(nil)

// eventPage is how many events one read of the log returns.
const eventPage = 500

// errNoEventLog is returned when the lock engine keeps no event log (the kernel DLM).
var errNoEventLog = errors.New("this node has no session in a lock engine that keeps the event log (etcd)")

// currentLog is the current session's log, or an error saying why there is none.
func (a *Agent) currentLog() (dlm.Log, dlm.Store, error) {
	s := a.sm.current()
	if s == nil {
		return nil, nil, errors.New("this node has no session in the lock engine")
	}
	lg := sessionLog(s)
	if lg == nil {
		return nil, nil, errNoEventLog
	}
	return lg, s.Session.(dlm.StoreSession).Store(), nil
}

// Events sends the logged events after seq since, then with follow every new one until ctx ends.
// A follow that loses its watch (quorum lost, the session changed) reads on from the last event
// it sent, so it neither skips nor repeats one.
func (a *Agent) Events(ctx context.Context, since int64, limit int, follow bool, send func(api.Event) error) error {
	sent := 0
	for {
		lg, st, err := a.currentLog()
		if err != nil {
			if !follow || errors.Is(err, errNoEventLog) {
				return err
			}
			sleepCtx(ctx, time.Second)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		rev, done, err := a.sendSince(ctx, lg, &since, limit, &sent, send)
		if err != nil && follow && !done && ctx.Err() == nil {
			a.log.Debug("event follow: read failed; retrying", "after", since, "err", err)
			sleepCtx(ctx, time.Second) // a lock service without quorum for a while
			continue
		}
		if err != nil || done || !follow {
			return err
		}
		last, err := a.followLog(ctx, st, rev, send)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if last > since {
			since = last
		}
		a.log.Debug("event follow: watch ended; reading on", "after", since, "err", err)
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// sendSince sends the logged events after *since, page by page, moving *since along; done means
// limit was reached.
func (a *Agent) sendSince(ctx context.Context, lg dlm.Log, since *int64, limit int, sent *int, send func(api.Event) error) (int64, bool, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		kvs, rev, err := lg.Since(cctx, a.events.prefix, *since, eventPage)
		cancel()
		if err != nil {
			return 0, false, fmt.Errorf("read the event log: %w", err)
		}
		for _, kv := range kvs {
			ev, err := decodeEvent(kv)
			if err != nil {
				a.log.Warn("event log", "err", err)
				continue
			}
			if err := send(ev); err != nil {
				return 0, true, err
			}
			*since = kv.ModRevision
			if *sent++; limit > 0 && *sent >= limit {
				return rev, true, nil
			}
		}
		if len(kvs) < eventPage {
			return max(rev, *since), false, nil
		}
	}
}

// followLog streams the events appended after rev until the watch ends; it returns the seq of
// the last event it sent (or rev).
func (a *Agent) followLog(ctx context.Context, st dlm.Store, rev int64, send func(api.Event) error) (int64, error) {
	last := rev
	for wr := range st.Watch(ctx, a.events.prefix, rev) {
		if wr.Err != nil {
			return last, wr.Err
		}
		for _, we := range wr.Events {
			if we.Deleted {
				continue // the retention trimming an old event
			}
			ev, err := decodeEvent(we.KV)
			if err != nil {
				continue
			}
			if err := send(ev); err != nil {
				return last, err
			}
			last = we.KV.ModRevision
		}
	}
	return last, errors.New("the watch ended")
}

// reportable are the event types a local program may report.
var reportable = []string{api.EventMdcadm, api.EventMonitorAlert}

// Report logs an event a local program (mdcadm) reports, with the pid and uid the kernel gives
// for it: the program's own claims (its real uid, its login uid) stay in its fields.
func (a *Agent) Report(_ context.Context, r api.ReportRequest, peer api.Peer) error {
	if !slices.Contains(reportable, r.Type) {
		return &api.BadRequest{Msg: fmt.Sprintf("type: %q cannot be reported (want one of %s)", r.Type, strings.Join(reportable, ", "))}
	}
	ev := api.Event{Type: r.Type, Array: r.Array, Reason: r.Reason, Fields: map[string]string{}}
	for k, v := range r.Fields {
		ev.Fields[k] = v
	}
	ev.Fields["peer_pid"], ev.Fields["peer_uid"] = strconv.Itoa(peer.PID), strconv.Itoa(peer.UID)
	if st, err := a.rec.lookup(r.Array); err == nil {
		ev.Array, ev.UUID = st.cfg.Name, st.cfg.UUID
	}
	a.events.emit(ev)
	return nil
}

// configRecord is what the cluster state keeps of a node's configuration: a digest per section,
// so that a change names the sections that changed.
type configRecord struct {
	Sections map[string]string `json:"sections"`
	Time     time.Time         `json:"time"`
}

// configDigests hashes every top-level section of the configuration.
func (a *Agent) configDigests() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(*a.cfg)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		b, _ := json.Marshal(v.Field(i).Interface())
		h := sha256.Sum256(b)
		out[name] = hex.EncodeToString(h[:8])
	}
	return out
}

// recordConfig compares this start's configuration with the one the node last recorded in the
// cluster state and logs a config_changed event naming the sections that differ (or the first
// one seen). It is best effort: the record is retried at the next session.
func (a *Agent) recordConfig(ctx context.Context, s *session) {
	lg := sessionLog(s)
	if lg == nil {
		return
	}
	key := a.key("config", a.cfg.Node.Name)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kvs, _, err := s.Session.(dlm.StoreSession).Store().Get(cctx, key, 0)
	if err != nil {
		a.log.Warn("read the recorded configuration", "err", err)
		a.configRecorded.Store(false)
		return
	}
	now := configRecord{Sections: a.configDigests(), Time: time.Now()}
	var old configRecord
	var rev int64
	for _, kv := range kvs {
		if kv.Key == key { // Get reads a prefix: node1 would also find node10
			rev = kv.ModRevision
			_ = json.Unmarshal(kv.Value, &old)
		}
	}
	var changed []string
	for name, d := range now.Sections {
		if old.Sections[name] != d {
			changed = append(changed, name)
		}
	}
	if rev != 0 && len(changed) == 0 {
		return
	}
	slices.Sort(changed)
	b, _ := json.Marshal(now)
	if _, err := lg.CompareAndSwap(cctx, key, b, rev); err != nil {
		a.log.Warn("record the configuration", "err", err)
		a.configRecorded.Store(false)
		return
	}
	reason := "changed: " + strings.Join(changed, ", ")
	if rev == 0 {
		reason = "first configuration recorded for this node"
	}
	a.events.emit(api.Event{Type: api.EventConfigChanged, Reason: reason, Fields: fields("sections", strings.Join(changed, ","))})
}

// sessionEvents logs a new session and, once per process, the node's configuration record.
func (a *Agent) sessionEvents(ctx context.Context, s *session) {
	a.events.emit(api.Event{Type: api.EventSessionOpened, Fields: fields("resumed", strconv.FormatBool(s.resumed))})
	if a.configRecorded.CompareAndSwap(false, true) {
		go a.recordConfig(ctx, s)
	}
}
