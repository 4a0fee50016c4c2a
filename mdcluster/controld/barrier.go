package controld

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/dlm"
)

// Every membership change of a lockspace runs in two phases across the cluster, as
// dlm_controld's stop and start do: each member stops the lockspace and says so in the store
// (stop/<lockspace>/<node> = the revision of the change), then changes its member set, and
// starts it only once every other member of the new set has stopped it for that change or a
// later one. Without this, a member slower to see a change (or to fence a failed node) runs on
// with the old member set while another recovers with the new one; the kernel's recovery then
// computes the resource directory differently on each node, dlm_master_lookup refuses the
// lookups (-EINVAL), the requester takes -22 for a master's node id and recovery fails
// ("create_rcom to -22 type 4 … ENOBUFS", "do_ls_recovery … error -105") until the next
// membership change.
//
// A node that waits for others to stop keeps stopping (and saying so) every lockspace another
// change touches, so two nodes waiting for each other both go on. A node never starts a
// lockspace for a change once it has stopped it for a later one: that change starts it.

// stopKey is where node says up to which change it stopped ls.
func (d *Daemon) stopKey(ls string, id int) string {
	return d.cfg.Prefix + "stop/" + escape(ls) + "/" + strconv.Itoa(id)
}

// stopFor stops ls here (unless it never ran) and publishes that this node stopped it for the
// change at rev.
func (d *Daemon) stopFor(ctx context.Context, ls string, rev int64) error {
	l := d.local[ls]
	if l == nil || l.stopped >= rev {
		return nil
	}
	if l.running {
		if err := d.cfg.FS.Stop(ls); err != nil {
			return err
		}
		l.running = false
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := d.kv.Put(cctx, d.stopKey(ls, d.cfg.NodeID), []byte(strconv.FormatInt(rev, 10))); err != nil {
		return fmt.Errorf("controld: publish the stop of %s: %w", ls, err)
	}
	l.stopped = rev
	return nil
}

// resume starts every stopped local lockspace whose last change this node has applied, once the
// other members have stopped it for that change.
func (d *Daemon) resume(ctx context.Context, rev int64) error {
	for _, ls := range d.Lockspaces() {
		l := d.local[ls]
		if l == nil || l.running || l.stopped > rev {
			continue
		}
		if err := d.waitStopped(ctx, ls, l.stopped, l.members); err != nil {
			return err
		}
		if l.stopped > rev || l.running {
			continue // a later change stopped it while we waited: that change starts it
		}
		if err := d.cfg.FS.Start(ls); err != nil {
			return err
		}
		l.running = true
	}
	return nil
}

// waitStopped returns once every node of need but this one has stopped ls for rev or a later
// change, has left ls (its member key is gone) or has failed (its node key is gone).
func (d *Daemon) waitStopped(ctx context.Context, ls string, rev int64, need map[int]bool) error {
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		kvs, at, err := d.kv.Get(cctx, d.cfg.Prefix, 0)
		cancel()
		if err != nil {
			return fmt.Errorf("controld: read the stops of %s: %w", ls, err)
		}
		// Changes the main loop has not applied yet (it is blocked in this wait) are stopped for
		// here, as the watch below does for later ones: two nodes joining each other's
		// lockspaces at once would otherwise each wait for the other's stop.
		for _, kv := range kvs {
			for _, other := range d.touched(dlm.WatchEvent{KV: kv}) {
				if err := d.stopFor(ctx, other, kv.ModRevision); err != nil {
					return err
				}
			}
		}
		missing := d.notStopped(kvs, ls, rev, need)
		if len(missing) == 0 {
			if logged {
				d.log.Info("every member stopped the lockspace", "lockspace", ls, "rev", rev)
			}
			return nil
		}
		if !logged {
			d.log.Info("waiting for every member to stop the lockspace before it starts", "lockspace", ls, "rev", rev, "waiting_for", missing)
			logged = true
		}
		if err := d.nextChange(ctx, at); err != nil {
			return err
		}
	}
}

// notStopped lists the nodes of need (this one aside) that are alive, still members of ls, and
// have not stopped ls for rev.
func (d *Daemon) notStopped(kvs []dlm.KeyValue, ls string, rev int64, need map[int]bool) []int {
	alive, member, acked := map[int]bool{}, map[int]bool{}, map[int]int64{}
	prefix := d.cfg.Prefix + "stop/" + escape(ls) + "/"
	for _, kv := range kvs {
		if id, ok := d.nodeID(kv.Key); ok {
			alive[id] = true
		} else if mls, id, ok := d.lsMember(kv.Key); ok && mls == ls {
			member[id] = true
		} else if rest, ok := strings.CutPrefix(kv.Key, prefix); ok {
			id, err1 := strconv.Atoi(rest)
			r, err2 := strconv.ParseInt(string(kv.Value), 10, 64)
			if err1 == nil && err2 == nil {
				acked[id] = r
			}
		}
	}
	var out []int
	for id := range need {
		// A node whose member key went has left (or given up its join): its leave is the
		// next change, and it will never stop for this one.
		if id != d.cfg.NodeID && alive[id] && member[id] && acked[id] < rev {
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

// nextChange waits for the store's next change after revision at, stopping every local
// lockspace a change in it touches.
func (d *Daemon) nextChange(ctx context.Context, at int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if wr, ok := <-d.kv.Watch(wctx, d.cfg.Prefix, at); ok && wr.Err == nil {
		for _, ev := range wr.Events {
			for _, ls := range d.touched(ev) {
				if err := d.stopFor(ctx, ls, ev.KV.ModRevision); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// The watch failed: read again after a moment.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// touched lists the local lockspaces whose member set an event changes: another node joining,
// leaving or re-announcing itself (a restarted control plane), or a member failing.
func (d *Daemon) touched(ev dlm.WatchEvent) []string {
	rev := ev.KV.ModRevision
	if id, ok := d.nodeID(ev.KV.Key); ok {
		if !ev.Deleted || id == d.cfg.NodeID {
			return nil
		}
		var out []string
		for ls, l := range d.local {
			if l.members[id] && rev > l.rev {
				out = append(out, ls)
			}
		}
		sort.Strings(out)
		return out
	}
	if ls, id, ok := d.lsMember(ev.KV.Key); ok && id != d.cfg.NodeID {
		if l := d.local[ls]; l != nil && rev > l.rev {
			return []string{ls}
		}
	}
	return nil
}

// lsMember parses a lockspace member key.
func (d *Daemon) lsMember(key string) (string, int, bool) {
	parts := strings.Split(strings.TrimPrefix(key, d.cfg.Prefix), "/")
	if len(parts) != 3 || parts[0] != "ls" {
		return "", 0, false
	}
	id, err := strconv.Atoi(parts[2])
	return unescape(parts[1]), id, err == nil
}
