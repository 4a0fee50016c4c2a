package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/internal/vmlab"
)

// leaseWatch follows, on the host's clock, the earliest moment the host's etcd may expire one
// lease (E). etcd reports a lease's remaining time truncated to whole seconds (LeaseTimeToLive:
// int64(Remaining().Seconds())), so a report r at host time t says E is in [t+r, t+r+1); the
// latest t+r over 50 ms polls is a lower bound of E within a poll. A renewal moves E on, and
// the bound with it. Fencing is measured against this bound, so a check that passes here passes
// against the real E.
type leaseWatch struct {
	mu      sync.Mutex
	expiry  time.Time // lower bound of E
	gone    time.Time // host time the lease was first seen gone
	renewed int       // renewals seen
	cancel  context.CancelFunc
	done    chan struct{}
}

// watchLease starts following lease id on the host etcd at port.
func watchLease(ctx context.Context, port int, id int64) (*leaseWatch, error) {
	cli, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: []string{"http://127.0.0.1:" + strconv.Itoa(port)}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &leaseWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cli.Close()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			resp, err := cli.TimeToLive(cctx, clientv3.LeaseID(id))
			ccancel()
			now := time.Now()
			if err == nil {
				w.mu.Lock()
				if resp.TTL < 0 {
					if w.gone.IsZero() {
						w.gone = now
					}
				} else if lb := now.Add(time.Duration(resp.TTL) * time.Second); lb.After(w.expiry) {
					if !w.expiry.IsZero() && lb.Sub(w.expiry) > 1500*time.Millisecond {
						w.renewed++
					}
					w.expiry = lb
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w, nil
}

// Expiry is the latest lower bound of the lease's expiry, and whether the lease is gone.
func (w *leaseWatch) Expiry() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expiry, !w.gone.IsZero()
}

func (w *leaseWatch) Stop() {
	w.cancel()
	<-w.done
}

// sessionLease reads the etcd lease of node's agent session from its session file.
func sessionLease(ctx context.Context, l *vmlab.Lab, node int) (int64, error) {
	out, err := step(ctx, l, node, quick, "read the agent's session file", "cat /run/mdcluster/session")
	if err != nil {
		return 0, err
	}
	var rec struct {
		Session int64 `json:"session"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Session == 0 {
		return 0, fmt.Errorf("node%d: session file %q: %v", node, out, err)
	}
	return rec.Session, nil
}

// watchedWriter is the opening of the fencing scenarios: node1 holds the exclusive RAID5 of
// exclusivePair and writes to it (held open with hold), and the host watches node1's session
// lease in etcd, the reference for "reset at least the margin before its lease can expire".
// The caller stops the watch.
func watchedWriter(ctx context.Context, l *vmlab.Lab, etcdPort int, ttl, margin time.Duration, hold bool) (uuid, md1 string, lw *leaseWatch, err error) {
	if uuid, md1, err = exclusivePair(ctx, l, etcdPort, ttl, margin); err != nil {
		return "", "", nil, err
	}
	lease, err := sessionLease(ctx, l, 1)
	if err != nil {
		return "", "", nil, err
	}
	if lw, err = watchLease(ctx, etcdPort, lease); err != nil {
		return "", "", nil, err
	}
	if err := writeLoop(ctx, l, 1, "/dev/"+md1, hold); err != nil {
		lw.Stop()
		return "", "", nil, err
	}
	return uuid, md1, lw, nil
}
