package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// Killing the leader of three members in the middle of a contended run:
// locks keep working through the others (a call caught by the failover may
// fail with dlm.ErrNoQuorum and is retried, as the agent does), and the dead
// node's lock goes to a survivor once its lease expires.
func TestMemberLoss(t *testing.T) {
	c := start3(t)
	prefix := uniquePrefix(t)
	ctx := ctxT(t, 120*time.Second)
	leader := -1
	for i, m := range c.members {
		if m.IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		leader = 0
	}
	var sess []*Session
	for i := range 3 {
		// The dead node's TTL is short to keep the test short; the
		// survivors' exceeds etcd's failover path (docs/etcd-in-vms.md).
		ttl := 10 * time.Second
		if i == leader {
			ttl = 3 * time.Second
		}
		s, err := New(c.cli[i], WithPrefix(prefix)).Open(ctx, dlm.WithTTL(ttl))
		if err != nil {
			t.Fatal(err)
		}
		sess = append(sess, s)
	}
	defer func() {
		for i, s := range sess {
			if i == leader {
				s.Orphan()
			} else {
				s.Close()
			}
		}
	}()
	if _, err := sess[leader].Lock(ctx, "held-by-dead", dlm.EX); err != nil {
		t.Fatal(err)
	}
	var rounds atomic.Int64
	killed := make(chan struct{})
	go func() {
		for rounds.Load() < 6 {
			time.Sleep(5 * time.Millisecond)
		}
		c.kill(leader)
		close(killed)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 3 {
		if i == leader {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 12; {
				err := lockUnlock(ctx, sess[i], "shared")
				if errors.Is(err, dlm.ErrNoQuorum) {
					continue // caught by the leader failover: retry
				}
				if err != nil {
					errs <- fmt.Errorf("client %d round %d: %w", i, n, err)
					return
				}
				n++
				rounds.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	<-killed
	// The dead node's EX lock: granted to a survivor after its lease expired.
	for i := range 3 {
		if i == leader {
			continue
		}
		if err := lockUnlock(ctx, sess[i], "held-by-dead"); err != nil {
			t.Fatalf("taking the dead node's lock: %v", err)
		}
		break
	}
}

func lockUnlock(ctx context.Context, s *Session, res string) error {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := s.Lock(lctx, res, dlm.EX)
	if err != nil {
		return err
	}
	for retried := false; ; retried = true {
		err := l.Unlock(lctx)
		switch {
		case errors.Is(err, dlm.ErrNoQuorum):
			continue // outcome unknown: try again
		case retried && errors.Is(err, dlm.ErrSessionExpired) && s.Ctx().Err() == nil:
			return nil // the first attempt did delete the keys
		}
		return err
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
	// Without quorum etcd cannot say whether the lease lives: resuming it is not expiry.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = e.Resume(rctx, s.ID())
	cancel()
	if err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("Resume without quorum: %v, want an error that is not expiry", err)
	}
	t.Logf("Resume without quorum: %v", err)
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
