package etcdlock

import (
	"context"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// upConvert asks for a stronger (or incomparable) mode. It is granted at
// once when the DLM would, else it joins the convert queue (a c key), which
// is served before new requests.
func (l *Lock) upConvert(ctx context.Context, mode dlm.Mode, o dlm.LockOptions) error {
	l.mu.Lock()
	oldTok, oldMode := l.token, l.mode
	l.mu.Unlock()
	var immediate bool
	resp, _, err := l.commit(ctx, "convert", func(v *view) ([]clientv3.Cmp, []clientv3.Op, error) {
		me := v.entries[l.id]
		if me == nil || !me.hasG {
			return nil, nil, l.lostErr("convert")
		}
		nv := v.clone()
		nme := nv.entries[l.id]
		nme.hasC, nme.cMod, nme.cRev = true, mode, v.rev+1
		gs := nv.grantPass()
		mineAt := slices.IndexFunc(gs, func(g grant) bool { return g.e.id == l.id })
		self := clientv3.Compare(clientv3.CreateRevision(l.key("q")), "=", me.qRev)
		immediate = mineAt >= 0
		if !immediate {
			if o.NoQueue {
				return nil, nil, fmt.Errorf("etcdlock: convert %q %v to %v: %w", l.res, oldMode, mode, dlm.ErrWouldBlock)
			}
			// Joining the convert queue needs no view check: the wait
			// decides grants against whatever the queue holds then.
			return []clientv3.Cmp{self}, []clientv3.Op{clientv3.OpPut(l.key("c"), string([]byte{byte(mode)}), clientv3.WithLease(l.s.lease))}, nil
		}
		gs = slices.Delete(gs, mineAt, mineAt+1)
		ops := []clientv3.Op{clientv3.OpGet(l.dir + "lvb"),
			clientv3.OpPut(l.key("g"), gval(mode, 0), clientv3.WithLease(l.s.lease))}
		cmps, ops := grantOps(l.dir, gs, 1, append(l.baseCmps(v.rev), self), ops, l.s.eng.txnOps())
		return cmps, ops, nil
	})
	if err != nil {
		return err
	}
	if immediate {
		var lvb []byte
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			lvb = kvs[0].Value
		}
		l.granted(mode, mkToken(resp.Header.Revision, 0), lvb)
		return nil
	}
	cRev := resp.Header.Revision
	l.mu.Lock()
	l.minRev = max(l.minRev, cRev)
	l.mu.Unlock()
	l.ensureTracker()
	werr := l.wait(ctx, "convert", func(v *view, me *entry) (bool, error) {
		switch {
		case me.hasG && !me.hasC && oldTok < me.gTok:
			return true, nil
		case !me.hasC:
			return false, fmt.Errorf("etcdlock: convert %q to %v: %w", l.res, mode, dlm.ErrCanceled)
		case v.deadlockVictim(l.id):
			return false, fmt.Errorf("etcdlock: convert %q %v to %v: %w", l.res, oldMode, mode, dlm.ErrDeadlock)
		}
		return false, nil
	})
	if werr == nil {
		return nil
	}
	return l.leaveConvertQueue(ctx, cRev, oldTok, werr)
}

// leaveConvertQueue takes the conversion queued at revision cRev back after its wait ended
// with werr; if the conversion was granted meanwhile (past token oldTok), it reports the grant
// instead of the error.
func (l *Lock) leaveConvertQueue(ctx context.Context, cRev int64, oldTok dlm.Token, werr error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.ttl)
	defer cancel()
	cresp, err := l.s.cli.Txn(clientv3.WithRequireLeader(cctx)).
		If(clientv3.Compare(clientv3.CreateRevision(l.key("c")), "=", cRev)).
		Then(clientv3.OpDelete(l.key("c"))).
		Else(clientv3.OpGet(l.dir, clientv3.WithPrefix())).Commit()
	if err != nil {
		return fmt.Errorf("%w (and leaving the convert queue failed: %w)", werr, wrapErr("convert", l.res, err))
	}
	if cresp.Succeeded {
		l.mu.Lock()
		l.minRev = max(l.minRev, cresp.Header.Revision)
		l.mu.Unlock()
		return werr
	}
	l.setView(cresp.Responses[0].GetResponseRange().Kvs, cresp.Header.Revision)
	v := l.snapshot()
	if me := v.entries[l.id]; me != nil && me.hasG && !me.hasC && oldTok < me.gTok {
		l.granted(me.gMod, me.gTok, v.lvb)
		return nil
	}
	return werr
}
