package etcdlock

import (
	"context"
	"fmt"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

var _ dlm.LeaderMover = (*Engine)(nil)

// Leadership reports etcd's voting members and leader as the client's one endpoint (this
// node's member) sees them.
func (e *Engine) Leadership(ctx context.Context) (dlm.Leadership, error) {
	ids, st, err := e.members(ctx)
	if err != nil {
		return dlm.Leadership{}, err
	}
	var l dlm.Leadership
	for name, id := range ids {
		l.Members = append(l.Members, name)
		if id == st.Leader {
			l.Leader = name
		}
		if id == st.Header.MemberId {
			l.Self = name
		}
	}
	sort.Strings(l.Members)
	return l, nil
}

// MoveLeader hands etcd's leadership to member (etcd's MoveLeader, which only the leader
// serves).
func (e *Engine) MoveLeader(ctx context.Context, member string) error {
	ids, st, err := e.members(ctx)
	if err != nil {
		return err
	}
	to, ok := ids[member]
	switch {
	case !ok:
		return fmt.Errorf("move etcd leadership: no voting member %q", member)
	case st.Leader == to:
		return nil
	case st.Header.MemberId != st.Leader:
		return fmt.Errorf("move etcd leadership to %s: this member does not lead", member)
	}
	if _, err := e.cli.MoveLeader(clientv3.WithRequireLeader(ctx), to); err != nil {
		return fmt.Errorf("move etcd leadership to %s: %w", member, err)
	}
	return nil
}

// members returns the voting members' IDs by name and the status of the client's endpoint.
func (e *Engine) members(ctx context.Context) (map[string]uint64, *clientv3.StatusResponse, error) {
	eps := e.cli.Endpoints()
	if len(eps) != 1 {
		return nil, nil, fmt.Errorf("etcd leadership: the client has %d endpoints, want this node's member only", len(eps))
	}
	st, err := e.cli.Status(ctx, eps[0])
	if err != nil {
		return nil, nil, fmt.Errorf("etcd status of %s: %w", eps[0], err)
	}
	ml, err := e.cli.MemberList(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd member list: %w", err)
	}
	ids := map[string]uint64{}
	for _, m := range ml.Members {
		if !m.IsLearner && m.Name != "" {
			ids[m.Name] = m.ID
		}
	}
	return ids, st, nil
}
