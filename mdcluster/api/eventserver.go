package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ConflictError marks a Backend error caused by a concurrent writer (HTTP 409): the caller's
// view is stale and it must read again.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// day2Routes registers the event log, monitor and scrub endpoints. Each answers 501 when the
// Backend does not implement its interface.
func (s *Server) day2Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("POST /v1/events", s.report)
	mux.HandleFunc("POST /v1/monitor/hold", s.holdMonitor)
	mux.HandleFunc("POST /v1/monitor/cursor", s.saveCursor)
	mux.HandleFunc("POST /v1/scrub", s.scrub)
}

func notImplemented(w http.ResponseWriter, what string) {
	writeErr(w, http.StatusNotImplemented, Error{Error: what + ": not served by this agent"})
}

// stream writes one JSON object per line and flushes it at once.
type stream struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newStream(w http.ResponseWriter) *stream { return &stream{w: w, enc: json.NewEncoder(w)} }

func (st *stream) send(v any) error {
	if !st.started {
		st.w.Header().Set("Content-Type", "application/x-ndjson")
		st.w.WriteHeader(http.StatusOK)
		st.started = true
	}
	if err := st.enc.Encode(v); err != nil {
		return err
	}
	if f, ok := st.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// events serves GET /v1/events?since=N&limit=M&follow=1 as newline-delimited JSON.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Backend.(EventBackend)
	if !ok {
		notImplemented(w, "events")
		return
	}
	q := r.URL.Query()
	since, err1 := nonNegative(q.Get("since"))
	limit, err2 := nonNegative(q.Get("limit"))
	if err1 != nil || err2 != nil {
		writeErr(w, http.StatusBadRequest, Error{Error: fmt.Sprintf("since %q, limit %q: want non-negative numbers", q.Get("since"), q.Get("limit"))})
		return
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	st := newStream(w)
	err := b.Events(r.Context(), since, int(limit), follow, func(e Event) error { return st.send(e) })
	if err != nil && !st.started {
		s.fail(w, "events", err)
		return
	}
	if err != nil && r.Context().Err() == nil {
		_ = st.send(Error{Error: err.Error()}) // the stream's last line says why it ended
	}
	if !st.started { // nothing to send: an empty stream
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
}

// nonNegative parses a query parameter; "" is 0.
func nonNegative(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Backend.(EventBackend)
	if !ok {
		notImplemented(w, "events")
		return
	}
	var req ReportRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Type == "" {
		writeErr(w, http.StatusBadRequest, Error{Error: "type: missing"})
		return
	}
	peer, _ := r.Context().Value(peerKey{}).(Peer)
	if err := b.Report(r.Context(), req, peer); err != nil {
		s.fail(w, "report", err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// holdMonitor streams the delivery lease: one MonitorGrant when it is held, another with Lost
// when it is lost. The lease goes back when the client closes the request.
func (s *Server) holdMonitor(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Backend.(MonitorBackend)
	if !ok {
		notImplemented(w, "monitor")
		return
	}
	var req MonitorHoldRequest
	if !decode(w, r, &req) {
		return
	}
	st := newStream(w)
	err := b.HoldMonitor(r.Context(), req, func(g MonitorGrant) error { return st.send(g) })
	if err != nil && !st.started {
		s.fail(w, "monitor hold", err)
	}
}

func (s *Server) saveCursor(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Backend.(MonitorBackend)
	if !ok {
		notImplemented(w, "monitor")
		return
	}
	var req CursorRequest
	if !decode(w, r, &req) {
		return
	}
	rep, err := b.SaveCursor(r.Context(), req)
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		writeErr(w, http.StatusConflict, Error{Error: err.Error()})
	case err != nil:
		s.fail(w, "monitor cursor", err)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

func (s *Server) scrub(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Backend.(ScrubBackend)
	if !ok {
		notImplemented(w, "scrub")
		return
	}
	var req ScrubRequest
	if !decode(w, r, &req) {
		return
	}
	switch req.Action {
	case ScrubCheck, ScrubRepair, ScrubIdle:
	default:
		writeErr(w, http.StatusBadRequest, Error{Error: fmt.Sprintf("action: %q is not check, repair or idle", req.Action)})
		return
	}
	rep, err := b.Scrub(r.Context(), req)
	if err != nil {
		s.fail(w, "scrub", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
