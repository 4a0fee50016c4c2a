package controld

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/md"
)

// opTimeout bounds one store request.
const opTimeout = 10 * time.Second

// errStaleMember: this node's member key of a lockspace it failed to join is still in the store.
var errStaleMember = errors.New("controld: a member key outlived a failed join")

// loop serves uevents and membership changes, one at a time, in store revision order.
func (d *Daemon) loop(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := d.kv.Watch(wctx, d.cfg.Prefix, rev)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.sess.Done():
			return ErrLeaseLost
		case ev, ok := <-d.events:
			if !ok {
				return errors.New("controld: the lockspace event source closed")
			}
			if err := d.uevent(ctx, ev); err != nil {
				if errors.Is(err, errStaleMember) {
					return err // a restarted Run removes the key (adopt)
				}
				d.log.Error("lockspace uevent", "action", ev.Action, "lockspace", ev.Lockspace, "err", err)
			}
		case wr, ok := <-wch:
			if !ok || wr.Err != nil {
				return fmt.Errorf("controld: membership watch: %v", wr.Err)
			}
			if err := d.changes(ctx, wr.Events); err != nil {
				return err
			}
		}
	}
}

// uevent answers the kernel for a local lockspace join or leave.
func (d *Daemon) uevent(ctx context.Context, ev md.LockspaceEvent) error {
	switch ev.Action {
	case "online":
		if err := d.join(ctx, ev.Lockspace); err != nil {
			return d.abortJoin(ctx, ev.Lockspace, err)
		}
		return nil
	case "offline":
		return d.leave(ctx, ev.Lockspace)
	}
	return nil
}

// changes applies one watch response: per revision, node failures first (a failed node's keys
// all vanish in one revision), then joins and leaves of other nodes.
func (d *Daemon) changes(ctx context.Context, evs []dlm.WatchEvent) error {
	for i := 0; i < len(evs); {
		rev := evs[i].KV.ModRevision
		j := i
		for j < len(evs) && evs[j].KV.ModRevision == rev {
			j++
		}
		if err := d.revision(ctx, rev, evs[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (d *Daemon) revision(ctx context.Context, rev int64, evs []dlm.WatchEvent) error {
	// Phase one: stop every local lockspace this revision changes, and say so.
	for _, e := range evs {
		for _, ls := range d.touched(e) {
			if err := d.stopFor(ctx, ls, rev); err != nil {
				return err
			}
		}
	}
	failed := map[int]string{}
	for _, e := range evs {
		if id, ok := d.nodeID(e.KV.Key); ok && e.Deleted {
			if id == d.cfg.NodeID {
				return ErrLeaseLost
			}
			failed[id] = d.nodes[id].addr
		}
	}
	for _, e := range evs {
		id, isNode := d.nodeID(e.KV.Key)
		old, had := d.nodes[id]
		kind, ls, id := d.apply(e.KV.Key, string(e.KV.Value), e.KV.Session, e.Deleted)
		switch {
		case isNode && !e.Deleted && id != d.cfg.NodeID:
			if had && old.sess != e.KV.Session {
				// A new incarnation replaced a live key (register waits for the old key to
				// expire, so this is not expected): the old incarnation failed.
				if err := d.failedAll(ctx, map[int]string{id: old.addr}, rev); err != nil {
					return err
				}
			}
			if err := d.cfg.FS.AddComm(id, net.ParseIP(string(e.KV.Value)), false); err != nil {
				return err
			}
			d.log.Info("node registered", "node", id, "address", string(e.KV.Value))
		case kind == "ls" && id != d.cfg.NodeID:
			if _, gone := failed[id]; !gone {
				if err := d.memberChange(ls, id, !e.Deleted, rev); err != nil {
					return err
				}
			}
		}
	}
	if len(failed) > 0 {
		if err := d.failedAll(ctx, failed, rev); err != nil {
			return err
		}
	}
	// Phase two: start what this revision stopped, once every member has stopped it too.
	return d.resume(ctx, rev)
}

func (d *Daemon) nodeID(key string) (int, bool) {
	p := d.cfg.Prefix + "nodes/"
	if len(key) <= len(p) || key[:len(p)] != p {
		return 0, false
	}
	id, err := strconv.Atoi(key[len(p):])
	return id, err == nil
}

// memberChange adds or removes another node in a local lockspace (stopped for this change),
// unless the member set this node joined with already reflects rev. A member announcing itself
// again (its control plane restarted) changes nothing but the stop and start.
func (d *Daemon) memberChange(ls string, id int, add bool, rev int64) error {
	l := d.local[ls]
	if l == nil || rev <= l.rev {
		return nil
	}
	l.rev = rev
	if l.members[id] == add {
		return nil
	}
	var err error
	if add {
		err = d.cfg.FS.SetMembers(ls, []int{id}, nil)
		l.members[id] = true
	} else {
		err = d.cfg.FS.SetMembers(ls, nil, []int{id})
		delete(l.members, id)
	}
	if err != nil {
		return err
	}
	d.log.Info("lockspace members changed", "lockspace", ls, "node", id, "joined", add, "members", sortedIDs(l.members))
	return nil
}

// failedAll handles the failure of nodes (id → address) seen at rev: the lockspaces they were in
// stop here at once; once each node is fenced its comms entry goes (so the kernel treats it as
// failed and md-cluster recovers its slot), then it leaves every lockspace. The lockspaces start
// again in the revision's second phase, once every survivor has stopped them.
func (d *Daemon) failedAll(ctx context.Context, failed map[int]string, rev int64) error {
	in := map[string][]int{}
	for _, id := range sortedIDs(keys(failed)) {
		var spaces []string
		for ls, l := range d.local {
			if l.members[id] {
				spaces = append(spaces, ls)
				in[ls] = append(in[ls], id)
			}
		}
		sort.Strings(spaces)
		d.log.Warn("node failed: its session expired", "node", id, "lockspaces", spaces)
	}
	for ls := range in {
		if err := d.stopFor(ctx, ls, rev); err != nil {
			return err
		}
	}
	how := "waiting " + d.cfg.FenceWait.String() + " for its watchdog"
	if d.cfg.FenceCommand != "" {
		how = "running the fence command"
	}
	for _, id := range sortedIDs(keys(failed)) {
		for _, dead := range in {
			if slices.Contains(dead, id) {
				d.notify(api.EventFenceStarted, id, how)
				if err := d.fence(ctx, id, failed[id]); err != nil {
					return err
				}
				d.notify(api.EventFenceDone, id, how)
				break
			}
		}
		if err := d.cfg.FS.RemoveComm(id); err != nil {
			return err
		}
	}
	for _, ls := range slices.Sorted(maps.Keys(in)) {
		dead := in[ls]
		if err := d.cfg.FS.SetMembers(ls, nil, dead); err != nil {
			return err
		}
		l := d.local[ls]
		for _, id := range dead {
			delete(l.members, id)
			d.log.Info("removed failed node from lockspace", "node", id, "lockspace", ls, "members", sortedIDs(l.members))
			d.notify(api.EventSlotRecovery, id, "lockspace "+ls)
		}
		l.rev = max(l.rev, rev)
	}
	return nil
}

func keys(m map[int]string) map[int]bool {
	out := map[int]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// fenceRetry is how long a failed fence command waits before its next attempt.
const fenceRetry = 5 * time.Second

// fence returns once node id cannot write any more: the fence command succeeded, or FenceWait
// passed (the node's watchdog reset it margin before its session could expire). It returns
// ctx's error as soon as ctx ends, which Run makes happen when this node's own session ends; a
// running fence command is then killed with its process group.
func (d *Daemon) fence(ctx context.Context, id int, addr string) error {
	if d.cfg.FenceCommand == "" {
		d.log.Info("waiting for the failed node's watchdog", "node", id, "wait", d.cfg.FenceWait)
		t := time.NewTimer(d.cfg.FenceWait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		d.log.Info("node fenced by its watchdog", "node", id)
		return nil
	}
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", d.cfg.FenceCommand)
		cmd.Env = append(os.Environ(), "FENCE_NODE_ID="+strconv.Itoa(id), "FENCE_NODE_ADDRESS="+addr)
		killGroup(cmd)
		// A child the command left running keeps its output open: stop waiting for it soon
		// after the command was killed.
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			d.log.Info("node fenced by the fence command", "node", id, "attempt", attempt)
			return nil
		}
		d.log.Error("fence command failed: recovery waits", "node", id, "attempt", attempt, "err", err, "output", string(out))
		t := time.NewTimer(fenceRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func sortedIDs(m map[int]bool) []int {
	var ids []int
	for id, ok := range m {
		if ok {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids
}
