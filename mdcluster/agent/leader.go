package agent

import (
	"context"
	"path"
	"slices"
	"time"

	"mdcluster.dev/dlm"
)

// leaderPeriod is how often the agent looks at who leads the lock service, and leaderBackoff
// how long it leaves it after a move that failed.
const (
	leaderPeriod  = 5 * time.Second
	leaderBackoff = 30 * time.Second
)

// placeLeader keeps the lock service's leader off this node while it holds an activation lease
// and a member on a node that holds none, with a live agent, can lead (see dlm.LeaderMover:
// a holder that also led etcd was taken over TTL + 2-3 s after its crash, one that did not
// within the TTL). The move is safe at any time: etcd's new leader extends every lease, it
// never shortens one. It costs time only when it falls while a dead node's lease waits to
// expire (that lease is extended too): a holder leads only just after an election, so that
// takes another holder's crash within the few seconds before this agent's next look. Engines
// that are not LeaderMovers (the kernel DLM, an external etcd whose members the agents do not
// run) are left alone.
func (a *Agent) placeLeader(ctx context.Context, eng dlm.Engine) {
	lm, ok := eng.(dlm.LeaderMover)
	if !ok || !a.cfg.LockEngine.RunsMember() {
		return
	}
	t := time.NewTicker(leaderPeriod)
	defer t.Stop()
	var quiet time.Time // no attempt before (monotonic)
	var pub published
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pub = a.publishHolding(ctx, pub)
		if time.Now().Before(quiet) {
			continue
		}
		if err := a.moveLeaderOnce(ctx, lm); err != nil {
			a.log.Warn("could not hand the lock service's leadership to a node without exclusive arrays; trying again later", "err", err, "in", leaderBackoff)
			quiet = time.Now().Add(leaderBackoff)
		}
	}
}

// published is what this agent last published about its activation leases.
type published struct {
	session dlm.SessionID
	holds   bool
}

// publishHolding keeps the key leaseholders/<node> (bound to the session, so it vanishes with
// it) present exactly while this node holds an activation lease. The other agents read it:
// their own configurations may not list this node's arrays (an N+1 standby shares each array
// with one node), and two holders that each took the other for free would pass the leadership
// back and forth, every move giving every lease its whole TTL again (a dead node's included:
// its arrays would never be taken over).
func (a *Agent) publishHolding(ctx context.Context, last published) published {
	s := a.sm.current()
	if s == nil {
		return published{}
	}
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return last
	}
	now := published{session: s.id, holds: a.activationHolders()[a.cfg.Node.Name]}
	if now == last {
		return last
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := a.key("leaseholders", a.cfg.Node.Name)
	var err error
	if now.holds {
		_, err = ss.Store().Put(cctx, key, []byte("1"))
	} else {
		_, err = ss.Store().Delete(cctx, key)
	}
	if err != nil {
		a.log.Debug("could not publish whether this node holds activation leases; next look", "err", err)
		return published{} // unknown: written again next time
	}
	return now
}

// moveLeaderOnce hands the leadership on if this node leads and should not.
func (a *Agent) moveLeaderOnce(ctx context.Context, lm dlm.LeaderMover) error {
	holders := a.activationHolders()
	if !holders[a.cfg.Node.Name] {
		return nil
	}
	s := a.sm.current()
	if s == nil {
		return nil
	}
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l, err := lm.Leadership(cctx)
	if err != nil || l.Leader != a.cfg.Node.Name {
		return nil // not ours to move (a failed read: the next look decides)
	}
	live := map[string]bool{}
	ms, err := a.members(cctx, ss.Store())
	if err != nil {
		return nil
	}
	for _, m := range ms {
		live[m.Name] = true
	}
	kvs, _, err := ss.Store().Get(cctx, a.key("leaseholders")+"/", 0)
	if err != nil {
		return nil
	}
	for _, kv := range kvs {
		holders[path.Base(kv.Key)] = true
	}
	to, ok := leaderTarget(l, a.cfg.Node.Name, holders, live)
	if !ok {
		return nil
	}
	if err := lm.MoveLeader(cctx, to); err != nil {
		return err
	}
	a.rec.count("leader_moved")
	a.log.Info("lock service leadership handed to a node that holds no exclusive array: a crash of this node no longer costs an etcd election on top of the TTL", "to", to)
	return nil
}

// activationHolders is the set of nodes that hold an activation lease of this node's arrays,
// as this node last saw them.
func (a *Agent) activationHolders() map[string]bool {
	out := map[string]bool{}
	for _, as := range a.rec.states() {
		v := as.getView()
		switch {
		case v.actHere:
			out[a.cfg.Node.Name] = true
		case v.holder != "":
			out[v.holder] = true
		}
	}
	return out
}

// leaderTarget picks the member to lead instead of self: the first, by name, that is not self,
// holds no activation lease (its own key or this node's view) and runs a live agent. It returns false when self does not lead,
// holds nothing, or no member qualifies (every node holds leases: the leader stays).
func leaderTarget(l dlm.Leadership, self string, holders, live map[string]bool) (string, bool) {
	if l.Leader != self || l.Self != self || !holders[self] {
		return "", false
	}
	for _, m := range slices.Sorted(slices.Values(l.Members)) {
		if m != self && !holders[m] && live[m] {
			return m, true
		}
	}
	return "", false
}
