package controld

import (
	"context"
	"errors"
	"fmt"
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
	return nil
}

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
	l := &localSpace{rev: rev, members: map[int]bool{}}
	for _, id := range have {
		l.members[id] = true
	}
	d.local[ls] = l
	var add, remove []int
	for _, id := range have {
		if d.members[ls][id] {
			continue
		}
		if _, alive := d.nodes[id]; !alive {
			if err := d.failed(ctx, id, ""); err != nil {
				return err
			}
			continue
		}
		remove = append(remove, id)
	}
	for id := range d.members[ls] {
		if !l.members[id] {
			add = append(add, id)
		}
	}
	if err := d.cfg.FS.Change(ls, add, remove); err != nil {
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
