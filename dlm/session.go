package dlm

import (
	"context"
	"time"
)

// The interfaces below are optional capabilities of an engine or a session. A caller asks for
// them with a type assertion and degrades (and says so) when an engine lacks one: the kernel DLM
// engine has no resumable sessions, no deadline and no store.

// SessionID names a session in its lock service (etcd: the lease ID). Zero means none.
type SessionID int64

// Identified is a session with an ID that a restarted process can resume.
type Identified interface {
	ID() SessionID
}

// Resumer is an engine whose sessions outlive the process that opened them, so that an agent
// restarted (even after kill -9) within the TTL keeps its locks.
type Resumer interface {
	// Resume continues session id and starts renewing it. It fails with ErrSessionExpired
	// only when the lock service says the session is gone; every other error is transient:
	// retry it, never open a new session in its place (the old one still holds locks).
	Resume(ctx context.Context, id SessionID) (Session, error)
}

// Adopter is a resumed session that hands over the locks granted to it before the restart.
type Adopter interface {
	// Adopt returns the lock the session holds on resource, or ErrNotHeld.
	Adopt(ctx context.Context, resource string) (Lock, error)
}

// Deadliner is a session that knows the earliest moment the lock service may expire it,
// counted from the send time of the last renewal the service confirmed. The time carries a
// monotonic clock reading: compare it only with time.Now() of the same process.
type Deadliner interface {
	Deadline() time.Time
}

// Holder is one granted lock on a resource, as any client may see it.
type Holder struct {
	Session SessionID
	Mode    Mode
	Token   Token
}

// ResourceInfo is a resource's state read without taking a lock: who holds it, how many
// requests wait, and its lock value block.
type ResourceInfo struct {
	Granted []Holder
	Waiting int
	LVB     []byte
}

// Inspector reads a resource without taking a lock and without queueing, so it works while
// other requests wait (a NOQUEUE reader lock would be refused behind them).
type Inspector interface {
	Inspect(ctx context.Context, resource string) (ResourceInfo, error)
}

// KeyValue is one key of a Store. Session is the session the key is bound to (0: none).
type KeyValue struct {
	Key         string
	Value       []byte
	ModRevision int64
	Session     SessionID
}

// WatchEvent is one change of a key. A deleted key carries its key and the revision of the
// deletion only.
type WatchEvent struct {
	Deleted bool
	KV      KeyValue
}

// WatchResponse is a batch of changes in revision order, or the error that ended a watch.
type WatchResponse struct {
	Events []WatchEvent
	Err    error
}

// Store is a small key-value space kept by the lock service for cluster state that is not a
// lock: members, resync progress, the DLM control plane's membership. Its revisions are totally
// ordered (etcd: the cluster's revision). Keys are absolute; callers compose them under their
// configured prefix.
type Store interface {
	// Get returns every key under prefix as of revision rev (0: the latest), in key order,
	// and the revision read.
	Get(ctx context.Context, prefix string, rev int64) ([]KeyValue, int64, error)
	// Put writes key bound to the store's session: the key vanishes when the session ends.
	Put(ctx context.Context, key string, value []byte) (int64, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) (int64, error)
	// Watch streams the changes under prefix after revision rev. The channel is closed when
	// ctx ends or the watch fails; a failure is the last response's Err.
	Watch(ctx context.Context, prefix string, rev int64) <-chan WatchResponse
}

// StoreSession is a session that offers a Store whose writes are bound to it.
type StoreSession interface {
	Session
	Store() Store
}

// The timing of leased sessions (etcdlock, memlock), as fractions of the TTL. It lives here, with
// no dependency, because the agent's fencing arithmetic (mdcluster/fence), the configuration's
// checks and the protocol models (scripts/model) all derive from it.
const (
	// RenewDivisor: a session is renewed every TTL/RenewDivisor.
	RenewDivisor = 6
	// RetryDivisor: a failed renewal is retried after TTL/RetryDivisor.
	RetryDivisor = 12
	// DoneDivisor: Done closes TTL/DoneDivisor before the lock service can expire the session.
	DoneDivisor = 5
)
