package memlock

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/dlmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	dlmtest.Run(t, dlmtest.Harness{
		NewCluster: func(_ testing.TB, n int) dlmtest.Cluster {
			svc := NewService()
			var engines []dlm.Engine
			for range n {
				engines = append(engines, svc.Engine())
			}
			return dlmtest.Cluster{Engines: engines}
		},
		Expire:    func(_ testing.TB, s dlm.Session) { s.(*Session).Expire() },
		Stall:     func(_ testing.TB, s dlm.Session) { s.(*Session).StopRenewing() },
		Orphan:    func(s dlm.Session) { s.(*Session).Orphan() },
		TTL:       time.Second,
		OpTimeout: 200 * time.Millisecond,
		Checks:    25,
	})
}
