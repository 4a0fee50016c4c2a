package etcdlock

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// tracker is a watch on the resource directory that keeps Lock.v current.
type tracker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// signal wakes everyone waiting for a change of l.v. l.mu must be held.
func (l *Lock) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// setView replaces the view by a range read of the resource at rev, unless
// the current view is already as new.
func (l *Lock) setView(kvs []*mvccpb.KeyValue, rev int64) {
	v := newView()
	v.rev = rev
	for _, kv := range kvs {
		v.apply(strings.TrimPrefix(string(kv.Key), l.dir), kv, false)
	}
	v.clean()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v == nil || rev > l.v.rev {
		l.v = v
		l.signal()
	}
}

// snapshot returns a copy of the current view.
func (l *Lock) snapshot() *view {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v.clone()
}

// refresh reads the resource.
func (l *Lock) refresh(ctx context.Context, op string) error {
	resp, err := l.s.cli.Get(clientv3.WithRequireLeader(ctx), l.dir, clientv3.WithPrefix())
	if err != nil {
		return wrapErr(op, l.res, err)
	}
	l.setView(resp.Kvs, resp.Header.Revision)
	return nil
}

// ensureTracker starts the watch if it is not running.
func (l *Lock) ensureTracker() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.trk != nil {
		select {
		case <-l.trk.done:
		default:
			return
		}
	}
	ctx, cancel := context.WithCancel(l.s.ctx)
	t := &tracker{cancel: cancel, done: make(chan struct{})}
	l.trk = t
	wch := l.s.cli.Watch(clientv3.WithRequireLeader(ctx), l.dir, clientv3.WithPrefix(), clientv3.WithRev(l.v.rev+1))
	go func() {
		defer close(t.done)
		defer cancel()
		for wr := range wch {
			if wr.Err() != nil || wr.Canceled {
				break
			}
			l.applyEvents(wr.Events)
		}
		l.mu.Lock()
		l.signal()
		l.mu.Unlock()
	}()
}

// trackerDead reports whether the watch ended (watch error, compaction, no
// leader, session end).
func (l *Lock) trackerDead() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.trk == nil {
		return true
	}
	select {
	case <-l.trk.done:
		return true
	default:
		return false
	}
}

func (l *Lock) stopTracker() {
	l.mu.Lock()
	t := l.trk
	l.trk = nil
	l.mu.Unlock()
	if t != nil {
		t.cancel()
		<-t.done
	}
}

// applyEvents folds watch events into the view and gives blocking notices.
// Events at or below the view's revision are already in it.
func (l *Lock) applyEvents(evs []*clientv3.Event) {
	l.mu.Lock()
	base, last := l.v.rev, l.v.rev
	for _, ev := range evs {
		rev := ev.Kv.ModRevision
		if rev <= base {
			continue
		}
		l.v.apply(strings.TrimPrefix(string(ev.Kv.Key), l.dir), ev.Kv, ev.Type == mvccpb.DELETE)
		last = max(last, rev)
	}
	l.v.clean()
	l.v.rev = last
	l.signal()
	var notify func(dlm.Mode)
	var want dlm.Mode
	if l.bast != nil && l.held {
		if w, ok := l.v.blockedBy(l.id, l.mode); ok && (!l.basted || w > l.bastM) {
			l.basted, l.bastM, notify, want = true, w, l.bast, w
		}
	}
	l.mu.Unlock()
	if notify != nil {
		notify(want)
	}
}

// startBast starts the watch a holder needs for blocking notices.
func (l *Lock) startBast() error {
	if l.bast != nil {
		l.ensureTracker()
	}
	return nil
}

// waitCheck inspects the caller's own entry: done when the wait is over
// (granted), or an error to end it.
type waitCheck func(v *view, me *entry) (bool, error)

// wait blocks until check says the request is granted, granting it itself
// when the view shows it grantable (after a lease expiry nobody else will).
func (l *Lock) wait(ctx context.Context, op string, check waitCheck) error {
	if err := l.catchUp(ctx, op); err != nil {
		return err
	}
	for {
		l.mu.Lock()
		v, ch := l.v.clone(), l.changed
		l.mu.Unlock()
		me := v.entries[l.id]
		if me == nil {
			return l.lostErr(op)
		}
		done, err := check(v, me)
		if err != nil {
			return err
		}
		if done {
			l.granted(me.gMod, me.gTok, v.lvb)
			return nil
		}
		if slices.ContainsFunc(v.grantPass(), func(g grant) bool { return g.e.id == l.id }) {
			ok, err := l.selfGrant(ctx, op)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			continue
		}
		if l.trackerDead() {
			if err := l.refresh(ctx, op); err != nil {
				return err
			}
			l.ensureTracker()
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return wrapErr(op, l.res, ctx.Err())
		case <-l.s.done:
			return l.lostErr(op)
		}
	}
}

// selfGrant grants every request the fresh view shows grantable, ours first
// among them, in one transaction (as many as fit in it: ours always does).
func (l *Lock) selfGrant(ctx context.Context, op string) (bool, error) {
	var mine grant
	resp, v, err := l.commit(ctx, op, func(v *view) ([]clientv3.Cmp, []clientv3.Op, error) {
		gs := v.grantPass()
		i := slices.IndexFunc(gs, func(g grant) bool { return g.e.id == l.id })
		if i < 0 {
			return nil, nil, errRetry
		}
		mine = gs[i]
		gs = append([]grant{mine}, slices.Delete(gs, i, i+1)...)
		c, o := grantOps(l.dir, gs, 0, l.baseCmps(v.rev), nil, l.s.eng.txnOps())
		return c, o, nil
	})
	if errors.Is(err, errRetry) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.granted(mine.mode, mkToken(resp.Header.Revision, 0), v.lvb)
	return true, nil
}
