// Package dlmtest is the conformance suite of mdcluster's lock engines: the DLM semantics and the
// optional session capabilities (dlm/session.go) that every engine must keep, written once
// against the dlm interfaces. Each engine runs it from its own tests with a Harness that says
// how to reach several clients of one lock service and how to end a session from outside;
// engine-specific tests (etcd quorum, transaction limits) stay with the engine.
//
// The suite needs dlm.Inspector on sessions (it orders its steps by what the service shows
// waiting, never by sleeping); every other capability is tested when the engine has it.
package dlmtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// Harness is what an engine gives the suite.
type Harness struct {
	// NewCluster returns n clients of one lock service, each standing for one node's process,
	// in a space (a fresh service, or a key prefix) that no other test sees.
	NewCluster func(t testing.TB, n int) Cluster
	// Expire ends s as the service ends a session whose lease expired, at once: s's Done closes
	// first, then the service frees its locks and keys. It returns once Done is closed.
	Expire func(t testing.TB, s dlm.Session)
	// Stall, if set, makes s stop renewing its lease, as a paused process: Done closes and the
	// locks go through the engine's own expiry path, within the session's TTL. It returns at once.
	Stall func(t testing.TB, s dlm.Session)
	// Orphan ends s without releasing anything, as a process killed with kill -9: its locks stay
	// until the service expires the session or a new process resumes it. Required when the
	// engine is a dlm.Resumer.
	Orphan func(s dlm.Session)
	// TTL is the session TTL of the tests that wait for an expiry (default 2 s).
	TTL time.Duration
	// OpTimeout bounds each lock request of the property test (default 1.5 s): a request still
	// waiting then is cancelled, which is one of the outcomes the test draws.
	OpTimeout time.Duration
	// Checks replaces rapid's default number of checks (100) in the property test unless
	// -rapid.checks or RAPID_CHECKS says otherwise.
	Checks int
}

// Cluster is n clients of one lock service.
type Cluster struct {
	Engines []dlm.Engine
	// Verify, if set, checks the service's own record of a property run once every session of
	// it has closed (the etcd engine replays every revision).
	Verify func(t TB)
}

// TB is the part of testing.TB (and of rapid.T) that Verify uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

func (h *Harness) defaults() {
	if h.TTL == 0 {
		h.TTL = 2 * time.Second
	}
	if h.OpTimeout == 0 {
		h.OpTimeout = 1500 * time.Millisecond
	}
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, h Harness) {
	h.defaults()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"ExclusiveAndTryLock", testExclusiveAndTryLock},
		{"FIFOAndSharedGrants", testFIFOAndSharedGrants},
		{"QueueOrder", testQueueOrder},
		{"ConvertLVBAndBlockingNotice", testConvertLVBAndBlockingNotice},
		{"ConversionDeadlock", testConversionDeadlock},
		{"CancelWithdrawsRequest", testCancelWithdrawsRequest},
		{"InvalidRequests", testInvalidRequests},
		{"ExpiryHandsOver", testExpiryHandsOver},
		{"Identified", testIdentified},
		{"ResumeAdopt", testResumeAdopt},
		{"ResumeExpired", testResumeExpired},
		{"Deadline", testDeadline},
		{"Inspect", testInspect},
		{"Store", testStore},
		{"StoreExpiry", testStoreExpiry},
		{"PropertyNoIncompatibleHolders", testProperty},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// setChecks makes n rapid's default number of checks unless the user chose one.
func setChecks(n int) {
	if n <= 0 {
		return
	}
	f := flag.Lookup("rapid.checks")
	if f == nil || f.Value.String() != f.DefValue || f.DefValue != "100" {
		return // given on the command line or through RAPID_CHECKS
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if !given {
		_ = f.Value.Set(fmt.Sprint(n))
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// open starts a session on e that the test closes at its end.
func open(t testing.TB, e dlm.Engine, opts ...dlm.SessionOption) dlm.Session {
	t.Helper()
	s, err := e.NewSession(ctxT(t, 20*time.Second), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sessions opens one session on each of the first n engines of a new cluster.
func sessions(t testing.TB, h Harness, n int, opts ...dlm.SessionOption) []dlm.Session {
	t.Helper()
	c := h.NewCluster(t, n)
	var ss []dlm.Session
	for i := range n {
		ss = append(ss, open(t, c.Engines[i], opts...))
	}
	return ss
}

func inspector(t testing.TB, s dlm.Session) dlm.Inspector {
	t.Helper()
	in, ok := s.(dlm.Inspector)
	if !ok {
		t.Fatalf("%T is not a dlm.Inspector: the suite orders its steps by what the service shows", s)
	}
	return in
}

// waitRequests waits until resource has at least n requests (granted or waiting; a pending
// conversion counts as one more): an ordering step, not a timing claim.
func waitRequests(t testing.TB, s dlm.Session, resource string, n int) {
	t.Helper()
	in := inspector(t, s)
	ctx := ctxT(t, 30*time.Second)
	for {
		info, err := in.Inspect(ctx, resource)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Granted)+info.Waiting >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%q never had %d requests (last %+v)", resource, n, info)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// eventually polls cond until it holds or the test's patience (not a timing claim) runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

var seq atomic.Int64

// uniqueKey is a store key prefix no other test uses, ending in "/".
func uniqueKey(t testing.TB) string {
	return fmt.Sprintf("/dlmtest/%d/%s/", seq.Add(1), t.Name())
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
