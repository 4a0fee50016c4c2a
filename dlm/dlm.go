package dlm

import (
	"context"
	"fmt"
	"time"
)

// LVBLen is the size of a lock value block in bytes: the kernel's user
// lockspaces use 32 bytes, and the etcd engine keeps the same limit so
// callers can switch engines.
const LVBLen = 32

// MaxResourceLen is the longest resource name accepted (DLM_RESNAME_MAXLEN).
const MaxResourceLen = 64

// Token is a fencing token. Every grant gets a token strictly greater than
// that of every earlier grant on the same resource, so a receiver that
// remembers the highest token it has seen can refuse stale holders. Zero
// means "no token" (the kernel engine).
type Token uint64

// Engine opens sessions on a lock service.
type Engine interface {
	// NewSession starts a session; its locks last as long as it does.
	NewSession(ctx context.Context, opts ...SessionOption) (Session, error)
}

// Session is one client's liveness in the lock service. Every lock belongs
// to a session and vanishes with it.
type Session interface {
	// Lock blocks until resource is granted in mode, ctx ends or the session
	// ends. On a cancel the queued request is withdrawn (best effort).
	Lock(ctx context.Context, resource string, mode Mode, opts ...LockOption) (Lock, error)
	// TryLock grants resource in mode only if that is possible at once
	// (DLM NOQUEUE); otherwise it returns ErrWouldBlock and queues nothing.
	TryLock(ctx context.Context, resource string, mode Mode, opts ...LockOption) (Lock, error)
	// CheckToken returns nil if token is the token of a grant on resource
	// that is still in force, ErrStaleToken if not.
	CheckToken(ctx context.Context, resource string, token Token) error
	// Done is closed when the session ends: expired, orphaned or closed.
	// It closes before any other session can be granted this session's locks.
	Done() <-chan struct{}
	// Ctx is cancelled when Done is closed.
	Ctx() context.Context
	// Close releases every lock of the session and ends it.
	Close() error
}

// Lock is one granted lock on a resource. Its methods must not be called
// concurrently with each other.
type Lock interface {
	// Resource is the name the lock was taken on.
	Resource() string
	// Mode is the mode currently granted.
	Mode() Mode
	// Token is the fencing token of the current grant (changes on every
	// granted conversion).
	Token() Token
	// LVB is the lock value block as read with the last grant (nil if never
	// written).
	LVB() []byte
	// Convert changes the mode. A down-conversion is granted at once;
	// an up-conversion waits like Lock (or fails with ErrWouldBlock given
	// NoQueue). WithLVB writes the value block when converting down from
	// PW or EX. On a cancel the lock keeps its previous mode.
	Convert(ctx context.Context, mode Mode, opts ...LockOption) error
	// Unlock releases the lock. WithLVB writes the value block when the
	// lock is held in PW or EX.
	Unlock(ctx context.Context, opts ...LockOption) error
}

// SessionOptions is the resolved form of SessionOption values, for engines.
type SessionOptions struct {
	// TTL is how long the session outlives its last renewal.
	TTL time.Duration
}

// DefaultTTL is the session TTL when WithTTL is not given. A watchdog-fenced
// node stops at its fence point, well before its session expires: with the
// default margin (5 s) and watchdog timeout (2 s) a 30 s TTL leaves 11.5 s of
// lock-service silence before that point, more than an etcd leader change
// (LeaderFailover); 15 s left 0.25 s, and a leader change reset every node.
const DefaultTTL = 30 * time.Second

// LeaderFailover is how long an etcd leader crash stalls the survivors' lease
// renewals, measured in the VM lab: a renewal stuck towards the dead leader
// blocks the keep-alive stream until the request times out (5 s) and a new
// leader is elected (2 × the 1 s election timeout).
const LeaderFailover = 7 * time.Second

// SessionOption configures a Session.
type SessionOption func(*SessionOptions)

// WithTTL sets how long the session's locks survive without renewal. Values
// below one second are raised to one second; engines may round up further.
func WithTTL(ttl time.Duration) SessionOption {
	return func(o *SessionOptions) { o.TTL = max(ttl, time.Second) }
}

// ApplySessionOptions resolves opts over the defaults.
func ApplySessionOptions(opts ...SessionOption) SessionOptions {
	o := SessionOptions{TTL: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// LockOptions is the resolved form of LockOption values, for engines.
type LockOptions struct {
	// NoQueue fails with ErrWouldBlock instead of waiting.
	NoQueue bool
	// LVB, if not nil, is written on down-conversion or unlock from PW/EX.
	LVB []byte
	// Blocking, if set, is called when another request waits on this lock.
	Blocking func(Mode)
}

// LockOption configures Lock, TryLock, Convert and Unlock.
type LockOption func(*LockOptions)

// NoQueue makes a request fail with ErrWouldBlock rather than wait (DLM
// LKF_NOQUEUE). TryLock implies it.
func NoQueue() LockOption { return func(o *LockOptions) { o.NoQueue = true } }

// WithLVB gives the lock value block to write when the lock goes down from
// PW or EX (Convert or Unlock). It is ignored from other modes, as in the
// kernel DLM. At most LVBLen bytes.
func WithLVB(b []byte) LockOption {
	return func(o *LockOptions) { o.LVB = append([]byte{}, b...) }
}

// WithBlockingNotice asks for blocking notices (the DLM's basts): fn is
// called with the wanted mode when a request incompatible with this lock's
// mode is waiting. Notices are coalesced: one notice per wanted mode until
// the lock is converted again, so a notice means "someone wants this", not
// one call per waiter. fn runs on an engine goroutine and must not block.
func WithBlockingNotice(fn func(wanted Mode)) LockOption {
	return func(o *LockOptions) { o.Blocking = fn }
}

// ApplyLockOptions resolves opts and validates them.
func ApplyLockOptions(opts ...LockOption) (LockOptions, error) {
	var o LockOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.LVB) > LVBLen {
		return o, fmt.Errorf("%w: %d bytes, at most %d", ErrLVBTooLong, len(o.LVB), LVBLen)
	}
	return o, nil
}

// CheckRequest validates a resource name and mode, as both engines do
// before sending anything.
func CheckRequest(resource string, mode Mode) error {
	if resource == "" || len(resource) > MaxResourceLen {
		return fmt.Errorf("%w: %q (1 to %d bytes)", ErrInvalidResource, resource, MaxResourceLen)
	}
	if !mode.Valid() {
		return fmt.Errorf("%w: %d", ErrInvalidMode, uint8(mode))
	}
	return nil
}
