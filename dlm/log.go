package dlm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrConflict is returned by Log's compare-and-swap writes when the key changed since the caller
// read it: someone else wrote first, and the caller must read again before it decides anything.
var ErrConflict = errors.New("dlm: the key changed since it was read")

// Retention bounds an appended log: Append drops the oldest records beyond MaxCount, and those
// appended more than MaxAge ago. Zero leaves that bound off. Age is measured on the wall clock of
// the appending nodes (the only clock the nodes share): a record stamped by a node whose clock
// runs ahead lives a little longer.
type Retention struct {
	MaxCount int
	MaxAge   time.Duration
}

// Log is the part of a session's Store whose keys outlive every session. A session-bound key
// says "this node is alive and doing X"; an unbound key says what happened or how far a job got,
// which must survive the node: the event log, a monitor's delivery cursor, a scrub's checkpoint.
// Writes are still refused once the writing session has ended (ErrSessionExpired, ErrClosed): a
// node that may have been replaced must not write history.
type Log interface {
	// Append writes value as a new key under prefix, bound to no session, and returns the
	// store revision of the write: a cluster-wide sequence number that orders it among every
	// change of the store. It then trims the records under prefix to keep (best effort: a
	// failed trim is retried by the next append and never fails this one, which has been
	// written). The prefix belongs to the log: trimming removes whatever sorts oldest under it.
	Append(ctx context.Context, prefix string, value []byte, keep Retention) (int64, error)
	// Since returns at most limit records appended under prefix after revision after, in
	// revision order, and the store revision the read saw. A caller that got fewer than limit
	// follows with Store.Watch(prefix, rev) and misses nothing in between.
	Since(ctx context.Context, prefix string, after int64, limit int) ([]KeyValue, int64, error)
	// CompareAndSwap writes key, bound to no session, if its ModRevision is still modRev (0:
	// the key must not exist), and returns the revision of the write; else ErrConflict.
	CompareAndSwap(ctx context.Context, key string, value []byte, modRev int64) (int64, error)
	// CompareAndDelete deletes key if its ModRevision is still modRev; else ErrConflict.
	CompareAndDelete(ctx context.Context, key string, modRev int64) (int64, error)
}

// AppendKey is the name Append gives a record under prefix: the wall-clock time of the append
// in hex nanoseconds (so that keys sort by age and Retention.MaxAge trims one key range) and a
// random part that keeps two nodes' appends apart. Engines share it so that their logs read
// alike.
func AppendKey(prefix string, now time.Time, random uint64) string {
	return fmt.Sprintf("%s%016x-%016x", prefix, uint64(now.UnixNano()), random)
}

// AgeBound is the first key under prefix that Retention.MaxAge keeps at now: every record whose
// key sorts before it is older than maxAge.
func AgeBound(prefix string, now time.Time, maxAge time.Duration) string {
	cut := now.Add(-maxAge).UnixNano()
	if cut < 0 {
		cut = 0
	}
	return fmt.Sprintf("%s%016x", prefix, uint64(cut))
}
