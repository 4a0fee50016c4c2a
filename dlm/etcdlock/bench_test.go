package etcdlock

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/etcd/client/v3/concurrency"

	"mdcluster.dev/dlm"
)

// BenchmarkLockUnlock measures an EX lock+unlock round trip on one resource,
// uncontended and with 8 contenders, for this engine and for etcd's own
// concurrency.Mutex against the same embedded server in the same run. With
// contenders, b.N round trips are shared among them (ns/op is per round
// trip, all contenders together).
func BenchmarkLockUnlock(b *testing.B) {
	for _, contenders := range []int{1, 8} {
		b.Run(fmt.Sprintf("engine=ours/contenders=%d", contenders), func(b *testing.B) {
			e := shared.engine(b, 0, uniquePrefix(b))
			runBench(b, contenders, func(ctx context.Context) (func() error, func()) {
				s, err := e.Open(ctx)
				if err != nil {
					b.Fatal(err)
				}
				return func() error {
					l, err := s.Lock(ctx, "bench", dlm.EX)
					if err != nil {
						return err
					}
					return l.Unlock(ctx)
				}, func() { s.Close() }
			})
		})
		b.Run(fmt.Sprintf("engine=etcd-mutex/contenders=%d", contenders), func(b *testing.B) {
			prefix := uniquePrefix(b)
			runBench(b, contenders, func(ctx context.Context) (func() error, func()) {
				s, err := concurrency.NewSession(shared.cli[0], concurrency.WithTTL(15))
				if err != nil {
					b.Fatal(err)
				}
				m := concurrency.NewMutex(s, prefix+"/bench")
				return func() error {
					if err := m.Lock(ctx); err != nil {
						return err
					}
					return m.Unlock(ctx)
				}, func() { s.Close() }
			})
		})
	}
}

func runBench(b *testing.B, contenders int, setup func(context.Context) (func() error, func())) {
	ctx := context.Background()
	rounds := make([]func() error, contenders)
	for i := range rounds {
		round, cleanup := setup(ctx)
		defer cleanup()
		rounds[i] = round
	}
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, round := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := round(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
