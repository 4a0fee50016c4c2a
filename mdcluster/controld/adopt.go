package controld

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
)

// adopt takes over the lockspaces a previous agent left: each gets the member set the store has now
// (failed nodes are fenced and removed first) and is started again, since the kernel stopped
// it when the previous agent's monitor device closed. A join the kernel is still waiting for is
// answered.
func (d *Daemon) adopt(ctx context.Context) error {
	d.local = map[string]*localSpace{}
	spaces, err := d.cfg.FS.Spaces()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	kernel, err := d.cfg.FS.KernelSpaces()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	inKernel := map[string]bool{}
	for _, ls := range kernel {
		inKernel[ls] = true
	}
	if err := d.dropStaleMembers(ctx, inKernel); err != nil {
		return err
	}
	for _, ls := range spaces {
		if !inKernel[ls] {
			d.log.Info("dropping a lockspace the kernel no longer has", "lockspace", ls)
			if err := d.cfg.FS.removeSpace(ls); err != nil {
				return err
			}
			continue
		}
		delete(inKernel, ls)
		if err := d.adoptSpace(ctx, ls); err != nil {
			return err
		}
	}
	for ls := range inKernel {
		d.log.Info("answering a join the kernel is waiting for", "lockspace", ls)
		if err := d.join(ctx, ls); err != nil {
			return err
		}
	}
	return d.resume(ctx, math.MaxInt64)
}

// dropStaleMembers deletes this node's member keys of lockspaces the kernel does not have (a
// join that failed and whose key could not be deleted then): peers would otherwise keep this
// node in a lockspace it is not in, and their recovery would wait for it.
func (d *Daemon) dropStaleMembers(ctx context.Context, inKernel map[string]bool) error {
	for ls, ids := range d.members {
		if !ids[d.cfg.NodeID] || inKernel[ls] {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := d.kv.Delete(cctx, d.lsKey(ls, d.cfg.NodeID))
		if err == nil {
			_, err = d.kv.Delete(cctx, d.stopKey(ls, d.cfg.NodeID))
		}
		cancel()
		if err != nil {
			return fmt.Errorf("controld: drop this node's stale member key of %s: %w", ls, err)
		}
		d.log.Info("dropped this node's member key of a lockspace the kernel does not have", "lockspace", ls)
	}
	return nil
}

// adoptSpace takes over one lockspace: stopped (the kernel stopped it when the previous agent's
// monitor closed; stopped again in case it did not), its member set brought to the store's, and
// announced again so that every member stops it too; resume starts it once they all have.
func (d *Daemon) adoptSpace(ctx context.Context, ls string) error {
	have, err := d.cfg.FS.Members(ls)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, err := d.kv.Put(cctx, d.lsKey(ls, d.cfg.NodeID), nil)
	if err != nil {
		return fmt.Errorf("controld: adopt %s: %w", ls, err)
	}
	d.apply(d.lsKey(ls, d.cfg.NodeID), "", d.sess.ID(), false)
	l := &localSpace{rev: rev, members: map[int]bool{}, running: true}
	for _, id := range have {
		l.members[id] = true
	}
	d.local[ls] = l
	if err := d.stopFor(ctx, ls, rev); err != nil {
		return err
	}
	var add, remove []int
	dead := map[int]string{}
	for _, id := range have {
		if d.members[ls][id] {
			continue
		}
		if _, alive := d.nodes[id]; !alive {
			dead[id] = ""
			continue
		}
		remove = append(remove, id)
	}
	if len(dead) > 0 {
		if err := d.failedAll(ctx, dead, rev); err != nil {
			return err
		}
	}
	for id := range d.members[ls] {
		if !l.members[id] {
			add = append(add, id)
		}
	}
	if err := d.cfg.FS.SetMembers(ls, add, remove); err != nil {
		return err
	}
	for _, id := range add {
		l.members[id] = true
	}
	for _, id := range remove {
		delete(l.members, id)
	}
	d.log.Info("lockspace adopted and started", "lockspace", ls, "members", sortedIDs(l.members))
	return nil
}
