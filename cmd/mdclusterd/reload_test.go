package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/api"
)

// fakeAgent answers status as the process before a reload until it is signalled, then (after
// answers more) as a new process, first without and then with its session.
type fakeAgent struct {
	signalled atomic.Bool
	after     atomic.Int32 // status answers since the signal
	comesBack bool         // a new process ever answers
	t0        time.Time
}

func (f *fakeAgent) status(context.Context) (api.Status, error) {
	if !f.signalled.Load() || !f.comesBack {
		return api.Status{Started: f.t0, Session: api.SessionInfo{Valid: true}}, nil
	}
	switch n := f.after.Add(1); {
	case n == 1:
		return api.Status{}, errors.New("dial unix /run/mdcluster/mdclusterd.sock: connection refused")
	case n == 2:
		return api.Status{Started: f.t0.Add(time.Second)}, nil
	default:
		return api.Status{Started: f.t0.Add(time.Second), Session: api.SessionInfo{Valid: true}}, nil
	}
}

func (f *fakeAgent) reloader(check error) reloader {
	return reloader{
		check:   func(context.Context) error { return check },
		status:  f.status,
		signal:  func() error { f.signalled.Store(true); return nil },
		poll:    time.Millisecond,
		timeout: 2 * time.Second,
		what:    "the agent (PID 42)",
	}
}

// systemctl reload returned while the new binary was still starting (ExecReload was kill -HUP):
// the reload now returns only once a new process answers with its session.
func TestReloadWaitsForNewProcess(t *testing.T) {
	f := &fakeAgent{comesBack: true, t0: time.Now()}
	st, err := f.reloader(nil).reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !f.signalled.Load() || st.Started.Equal(f.t0) || !st.Session.Valid {
		t.Fatalf("returned %+v (signalled %v): want the new process with its session", st, f.signalled.Load())
	}
	if f.after.Load() < 3 {
		t.Fatalf("returned after %d answers of the new process: the refused connection and the answer without a session must not end the wait", f.after.Load())
	}
}

// A configuration the installed binary refuses, or an agent that does not answer: nothing is
// signalled, and the reason is the error.
func TestReloadRefusedSignalsNothing(t *testing.T) {
	f := &fakeAgent{comesBack: true, t0: time.Now()}
	_, err := f.reloader(errors.New("leases.ttl: want at least 5s")).reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "leases.ttl") || !strings.Contains(err.Error(), "unchanged") || f.signalled.Load() {
		t.Fatalf("err %v, signalled %v: want a refusal naming the configuration's fault, nothing signalled", err, f.signalled.Load())
	}
	r := f.reloader(nil)
	r.status = func(context.Context) (api.Status, error) { return api.Status{}, errors.New("connection refused") }
	if _, err := r.reload(context.Background()); err == nil || !strings.Contains(err.Error(), "does not answer") || f.signalled.Load() {
		t.Fatalf("err %v, signalled %v: want a refusal, nothing signalled", err, f.signalled.Load())
	}
}

// The agent refused the reload itself (it keeps running as the old process): the command fails
// within its timeout and says so, instead of reporting a reload that did not happen.
func TestReloadNotComingBackFails(t *testing.T) {
	f := &fakeAgent{comesBack: false, t0: time.Now()}
	r := f.reloader(nil)
	r.timeout = 50 * time.Millisecond
	_, err := r.reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "old process") || !strings.Contains(err.Error(), "PID 42") {
		t.Fatalf("err %v: want a failure saying the old process still answers", err)
	}
}
