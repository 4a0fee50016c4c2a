package dlm

import "context"

// LeaderMover is an engine whose lock service elects a leader among members that the agents
// run (etcd's raft). The leader's node matters to failover: when it dies, the survivors first
// elect a new leader (at least one election timeout), and etcd's new leader then extends every
// lease to its whole TTL plus an election timeout (the remaining TTLs are not carried over:
// etcd's lease checkpoints are off by default, and their interval, 5 minutes, is not settable
// through its embedding API, so they would never cover a 30-s lease). A
// holder that also led etcd was therefore taken over TTL + 2-3 s after its crash, one that did
// not within the TTL. The agent uses this to keep the leader off the nodes that hold leases.
type LeaderMover interface {
	// Leadership reports the voting members, which of them leads, and which one this client
	// talks to.
	Leadership(ctx context.Context) (Leadership, error)
	// MoveLeader asks the leader, which must be the member this client talks to, to hand its
	// role to member, and waits until it did or ctx ends.
	MoveLeader(ctx context.Context, member string) error
}

// Leadership is who leads the lock service, by member name ("" when unknown).
type Leadership struct {
	Self    string   // the member this client talks to
	Leader  string   // the member that leads
	Members []string // the voting members, sorted
}
