package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

func start3(t *testing.T) *cluster {
	t.Helper()
	c, err := startCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// Killing one member of three: locks keep working through the others, and
// the dead node's lock goes to a survivor once its lease expires.
func TestMemberLoss(t *testing.T) {
	c := start3(t)
	prefix := uniquePrefix(t)
	ctx := ctxT(t, 90*time.Second)
	var sess []*Session
	for i := range 3 {
		s, err := New(c.cli[i], WithPrefix(prefix)).Open(ctx, dlm.WithTTL(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sess = append(sess, s)
	}
	defer func() {
		for _, s := range sess[1:] {
			s.Close()
		}
		sess[0].Orphan()
	}()
	if _, err := sess[0].Lock(ctx, "held-by-dead", dlm.EX); err != nil {
		t.Fatal(err)
	}
	c.kill(0)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 1; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 10 {
				l, err := sess[i].Lock(ctx, "shared", dlm.EX)
				if err != nil {
					errs <- fmt.Errorf("client %d round %d: %w", i, n, err)
					return
				}
				if err := l.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("client %d unlock %d: %w", i, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The dead node's EX lock: granted to a survivor after its lease expired.
	l, err := sess[1].Lock(ctx, "held-by-dead", dlm.EX)
	if err != nil {
		t.Fatalf("taking the dead node's lock: %v", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// Losing quorum: lock calls fail with ErrNoQuorum or a clearly wrapped
// deadline, and no grant is made.
func TestQuorumLoss(t *testing.T) {
	c := start3(t)
	prefix := uniquePrefix(t)
	ctx := ctxT(t, 90*time.Second)
	e := New(c.cli[2], WithPrefix(prefix))
	s, err := e.Open(ctx, dlm.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Orphan()
	c.kill(0)
	c.kill(1)
	for _, res := range []string{"first", "second"} {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := s.Lock(lctx, res, dlm.EX)
		cancel()
		if err == nil {
			t.Fatalf("Lock %s without quorum granted: token %d", res, l.Token())
		}
		if !errors.Is(err, dlm.ErrNoQuorum) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, dlm.ErrSessionExpired) {
			t.Fatalf("Lock %s without quorum: %v, want ErrNoQuorum or a deadline", res, err)
		}
		t.Logf("Lock %s without quorum: %v", res, err)
	}
	// The survivor's own copy (serializable read, no quorum needed) holds
	// no grant.
	resp, err := c.cli[2].Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		t.Errorf("key left without quorum: %s", kv.Key)
	}
	// Without quorum the lease cannot be renewed: the session ends.
	<-s.Done()
}
