package etcdlock

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/dlmtest"
	"mdcluster.dev/dlm/memlock"
)

var (
	suiteOnce sync.Once
	suite     *cluster // 3 members for the conformance suite, started by its first test
	suiteErr  error
	suiteDir  string
)

// suiteCluster returns the conformance suite's 3-member cluster; TestMain stops it.
func suiteCluster(t testing.TB) *cluster {
	t.Helper()
	suiteOnce.Do(func() {
		if suiteDir, suiteErr = os.MkdirTemp("", "etcdlock-suite-"); suiteErr == nil {
			suite, suiteErr = startCluster(suiteDir, 3)
		}
	})
	if suiteErr != nil {
		t.Fatal(suiteErr)
	}
	return suite
}

func stopSuiteCluster() {
	if suite != nil {
		suite.close()
	}
	if suiteDir != "" {
		os.RemoveAll(suiteDir)
	}
}

// TestConformance runs the engine-agnostic suite with clients spread over three members, each
// talking to its own member only (as the agents do).
func TestConformance(t *testing.T) {
	dlmtest.Run(t, dlmtest.Harness{
		NewCluster: func(t testing.TB, n int) dlmtest.Cluster {
			c := suiteCluster(t)
			prefix := uniquePrefix(t)
			ctx := ctxT(t, 120*time.Second)
			start, err := c.cli[0].Get(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			var engines []dlm.Engine
			for i := range n {
				engines = append(engines, New(c.cli[i%len(c.cli)], WithPrefix(prefix)))
			}
			return dlmtest.Cluster{Engines: engines, Verify: func(tb dlmtest.TB) {
				checkEtcdHistory(ctx, tb, c.cli[0], prefix, start.Header.Revision)
			}}
		},
		Expire: func(t testing.TB, s dlm.Session) {
			es := s.(*Session)
			// Done first, as the session's own deadline closes it before etcd can expire
			// the lease; then the lease goes, as at its expiry.
			es.expired.Store(true)
			es.Orphan()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := es.cli.Revoke(ctx, es.lease); err != nil {
				t.Errorf("expire session: revoke: %v", err)
			}
		},
		Stall:  func(_ testing.TB, s dlm.Session) { s.(*Session).paused.Store(true) },
		Orphan: func(s dlm.Session) { s.(*Session).Orphan() },
		TTL:    2 * time.Second,
		// Each rapid check runs a concurrent history on a 3-member cluster: keep the count
		// small so the package fits in its time budget.
		Checks: 8,
	})
}

// The agent's fencing arithmetic is derived from this engine's session timing: the in-memory
// engine its tests use keeps the same.
func TestMemlockTimingIsEtcdlocks(t *testing.T) {
	if memlock.RenewDivisor != RenewDivisor || memlock.RetryDivisor != RetryDivisor || memlock.DoneDivisor != DoneDivisor {
		t.Fatalf("memlock's divisors %d %d %d, etcdlock's %d %d %d", memlock.RenewDivisor, memlock.RetryDivisor,
			memlock.DoneDivisor, RenewDivisor, RetryDivisor, DoneDivisor)
	}
}
