package controld

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// join adds this node to ls in the store and starts the lockspace with the member set of that
// revision; later changes arrive through the watch, in order, on every node.
func (d *Daemon) join(ctx context.Context, ls string) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, err := d.kv.Put(cctx, d.lsKey(ls, d.cfg.NodeID), nil)
	if err != nil {
		return fmt.Errorf("controld: join %s: %w", ls, err)
	}
	kvs, _, err := d.kv.Get(cctx, d.lsPrefix(ls), rev)
	if err != nil {
		return fmt.Errorf("controld: members of %s: %w", ls, err)
	}
	nodes, _, err := d.kv.Get(cctx, d.cfg.Prefix+"nodes/", rev)
	if err != nil {
		return fmt.Errorf("controld: nodes: %w", err)
	}
	addrs := map[int]string{}
	for _, kv := range nodes {
		if id, err := strconv.Atoi(kv.Key[len(d.cfg.Prefix+"nodes/"):]); err == nil {
			addrs[id] = string(kv.Value)
		}
	}
	members := map[int]bool{d.cfg.NodeID: true}
	for _, kv := range kvs {
		id, err := strconv.Atoi(kv.Key[len(d.lsPrefix(ls)):])
		if err != nil || addrs[id] == "" {
			continue
		}
		if err := d.cfg.FS.AddComm(id, net.ParseIP(addrs[id]), false); err != nil {
			return err
		}
		members[id] = true
	}
	if err := d.cfg.FS.Prepare(ls, sortedIDs(members)); err != nil {
		return err
	}
	l := &localSpace{rev: rev, members: members}
	d.local[ls] = l
	// The members stop the lockspace for this join; it starts once they all have.
	if err := d.stopFor(ctx, ls, rev); err != nil {
		return err
	}
	if err := d.waitStopped(ctx, ls, rev, members); err != nil {
		return err
	}
	if l.stopped == rev {
		if err := d.cfg.FS.Start(ls); err != nil {
			return err
		}
		l.running = true
	}
	if err := d.cfg.FS.JoinDone(ls); err != nil {
		return err
	}
	d.log.Info("lockspace joined", "lockspace", ls, "members", sortedIDs(members), "id", lockspaceID(ls), "rev", rev)
	return nil
}

// abortJoin undoes a join that failed part way (a store error, a configfs write) and fails the
// kernel's join: the kernel waits for event_done whatever happens, and a join left unanswered
// hangs the mdadm that started it for good, even after the store is back. Peers that saw this
// node's member key take it out again when the key goes. It returns the join's error, or an
// error that ends the loop when the key cannot be deleted (a restarted Run removes it).
func (d *Daemon) abortJoin(ctx context.Context, ls string, cause error) error {
	delete(d.local, ls)
	var err error
	for _, key := range []string{d.lsKey(ls, d.cfg.NodeID), d.stopKey(ls, d.cfg.NodeID)} {
		for i := 0; i < 3; i++ {
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err = d.kv.Delete(cctx, key)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if ferr := d.cfg.FS.FailJoin(ls); ferr != nil {
		d.log.Error("cannot fail the kernel's join", "lockspace", ls, "err", ferr)
	}
	d.log.Error("lockspace join failed; the kernel's join fails", "lockspace", ls, "err", cause)
	if err != nil {
		return fmt.Errorf("%w: join of %s failed (%v), then: %v", errStaleMember, ls, cause, err)
	}
	return nil
}

// leave takes this node out of ls in the store, then lets the kernel finish the leave.
func (d *Daemon) leave(ctx context.Context, ls string) error {
	var err error
	for i := 0; i < 3; i++ {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err = d.kv.Delete(cctx, d.lsKey(ls, d.cfg.NodeID))
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		// The kernel waits for us whatever the store says; the key goes with the session.
		d.log.Error("leave: cannot delete the member key", "lockspace", ls, "err", err)
	}
	delete(d.local, ls)
	if err := d.cfg.FS.Leave(ls); err != nil {
		return err
	}
	d.log.Info("lockspace left", "lockspace", ls)
	return nil
}
