package etcdlock

import (
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// The lock semantics tests are the engine-agnostic suite (dlm/dlmtest, conformance_test.go);
// these helpers serve the etcd-specific tests.

func openN(t *testing.T, e *Engine, n int, opts ...dlm.SessionOption) []*Session {
	t.Helper()
	var ss []*Session
	for range n {
		s, err := e.Open(ctxT(t, 10*time.Second), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ss = append(ss, s)
	}
	return ss
}

// waitQueued waits until the resource has n requests (ordering only, no
// timing assertion).
func waitQueued(t *testing.T, e *Engine, res string, n int) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	for {
		resp, err := e.cli.Get(ctx, e.dir(res)+"q/", withPrefix()...)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
