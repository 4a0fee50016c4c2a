package etcdlock

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var errRetry = errors.New("etcdlock: view changed, retry")

// baseCmps are the conditions of every decision taken on view v: no grant
// and no conversion request happened since. New requests and deletions may
// have: they can only be behind the decided ones in the queues, or free
// modes.
func (l *Lock) baseCmps(rev int64) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(l.dir+"g/"), "<", rev+1).WithPrefix(),
		clientv3.Compare(clientv3.ModRevision(l.dir+"c/"), "<", rev+1).WithPrefix(),
	}
}

// grantOps appends grant decisions to a transaction's conditions and writes: for each grantee,
// that its request still exists (so its lease is alive), and the grant key under the grantee's
// lease; a granted conversion also checks and drops its c key. It appends grants in order while
// the transaction stays within limit compares and limit operations (etcd checks each list
// against --max-txn-ops) and the grant index within one byte; the grants left out are decided
// again by later transactions (each waiter grants itself when it sees it may).
func grantOps(dir string, gs []grant, first int, cmps []clientv3.Cmp, ops []clientv3.Op, limit int) ([]clientv3.Cmp, []clientv3.Op) {
	for i, g := range gs {
		n := 1 // compares and writes this grant adds
		if g.conv {
			n = 2
		}
		if first+i >= maxGrantsPerTxn || len(cmps)+n > limit || len(ops)+n > limit {
			break
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(dir+"q/"+g.e.id), "=", g.e.qRev))
		ops = append(ops, clientv3.OpPut(dir+"g/"+g.e.id, gval(g.mode, byte(first+i)), clientv3.WithLease(clientv3.LeaseID(g.e.lease))))
		if g.conv {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(dir+"c/"+g.e.id), "=", g.e.cRev))
			ops = append(ops, clientv3.OpDelete(dir+"c/"+g.e.id))
		}
	}
	return cmps, ops
}

// commit runs the transaction plan builds from the freshest view. When the
// view was stale the Else branch reads the resource, and plan runs again on
// the new view. It returns the response and the view the plan used.
func (l *Lock) commit(ctx context.Context, op string, plan func(v *view) ([]clientv3.Cmp, []clientv3.Op, error)) (*clientv3.TxnResponse, *view, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, wrapErr(op, l.res, err)
		}
		if err := l.catchUp(ctx, op); err != nil {
			return nil, nil, err
		}
		v := l.snapshot()
		cmps, ops, err := plan(v)
		if err != nil {
			return nil, nil, err
		}
		resp, err := l.s.cli.Txn(clientv3.WithRequireLeader(ctx)).If(cmps...).Then(ops...).
			Else(clientv3.OpGet(l.dir, clientv3.WithPrefix())).Commit()
		if errors.Is(err, rpctypes.ErrTooManyOps) && l.s.eng.shrinkTxnOps(max(len(cmps), len(ops))) {
			continue // the server's --max-txn-ops is below what we assumed: plan smaller
		}
		if err != nil {
			return nil, nil, wrapErr(op, l.res, err)
		}
		if resp.Succeeded {
			return resp, v, nil
		}
		l.setView(resp.Responses[0].GetResponseRange().Kvs, resp.Header.Revision)
	}
}

// catchUp waits until the view includes our own last write, reading the
// resource if the watch is not running.
func (l *Lock) catchUp(ctx context.Context, op string) error {
	for {
		l.mu.Lock()
		ok, ch := l.v.rev >= l.minRev, l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		if l.trackerDead() {
			return l.refresh(ctx, op)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return wrapErr(op, l.res, ctx.Err())
		}
	}
}
