// Package etcdlock is the etcd engine of mdcluster.dev/dlm: DLM lock
// semantics on an etcd cluster.
//
// A resource is a directory of keys under the engine's prefix (see the key
// layout in state.go). A session is an etcd lease: every key of its locks
// carries it, so all of them vanish in the one revision where the lease
// expires. Every grant and conversion is decided in an etcd transaction that
// checks the grant and convert queues are still as the deciding client saw
// them; waiters wait on a watch (no polling). Whoever changes a resource
// (unlock, down-conversion) grants the waiters it unblocks in the same
// transaction; a waiter grants itself when a lease expiry unblocked it. The
// fencing token of a grant is the etcd revision of the transaction that made
// it, so tokens strictly increase per resource across all clients.
//
// A session's Done closes TTL/5 before etcd can expire its lease (the local
// deadline counts from when each renewal was sent), so a holder always learns
// it lost its locks before anyone else can be granted them.
//
// Sessions have every optional capability of dlm/session.go: an ID (the lease) that a restarted
// process resumes (Engine.Resume) and whose locks it adopts, a deadline on the monotonic clock,
// Inspect (a read of a resource's keys), and a Store whose keys are bound to the lease.
//
// A transaction holds at most --max-txn-ops compares and as many operations (128 by default,
// WithMaxTxnOps otherwise): a release that unblocks more waiters grants the first ones, and the
// others grant themselves.
//
// Lock keys are reused per session and resource, but etcd still keeps every
// revision until compaction: run members with auto-compaction.
//
// Use one client per process that talks to its local member only: in the VM
// lab a dead endpoint stalled requests and keepalives for longer than a TTL.
package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// DefaultPrefix is the key prefix used when WithPrefix is not given.
const DefaultPrefix = "/mdcluster/dlm"

// Engine is the etcd lock engine. It is safe for concurrent use.
type Engine struct {
	cli    *clientv3.Client
	prefix string
	maxOps atomic.Int64 // compares or operations one transaction may hold (etcd --max-txn-ops)
}

// DefaultMaxTxnOps is etcd's default --max-txn-ops: the most compares, and the most operations,
// one transaction may hold. A release that unblocks more waiters than fit grants the first ones
// and leaves the rest to grant themselves.
const DefaultMaxTxnOps = 128

// minTxnOps is the smallest limit the engine works with: its largest fixed transaction (an
// unlock writing the value block) needs 4 operations and 3 compares, plus one grant.
const minTxnOps = 8

var _ dlm.Engine = (*Engine)(nil)

// Option configures New.
type Option func(*Engine)

// WithPrefix puts every key of the engine under prefix, so several
// independent lock spaces can share one etcd cluster.
func WithPrefix(prefix string) Option {
	return func(e *Engine) { e.prefix = strings.TrimRight(prefix, "/") }
}

// WithMaxTxnOps sets the etcd servers' --max-txn-ops when it is not DefaultMaxTxnOps. A server
// that refuses a transaction as too large also makes the engine halve its limit (down to 8).
func WithMaxTxnOps(n int) Option {
	return func(e *Engine) { e.maxOps.Store(int64(max(n, minTxnOps))) }
}

// New returns an engine that keeps its locks in the etcd cluster behind cli.
// The caller keeps ownership of cli and closes it after every session.
func New(cli *clientv3.Client, opts ...Option) *Engine {
	e := &Engine{cli: cli, prefix: DefaultPrefix}
	e.maxOps.Store(DefaultMaxTxnOps)
	for _, o := range opts {
		o(e)
	}
	return e
}

// txnOps is the current limit on compares and on operations per transaction.
func (e *Engine) txnOps() int { return int(e.maxOps.Load()) }

// shrinkTxnOps lowers the limit below used, the size of a transaction the server refused, and
// reports whether there was room to: a false return means the refusal is not about our grants.
func (e *Engine) shrinkTxnOps(used int) bool {
	for {
		cur := e.maxOps.Load()
		next := max(min(cur, int64(used))/2, minTxnOps)
		if next >= cur {
			return false
		}
		if e.maxOps.CompareAndSwap(cur, next) {
			return true
		}
	}
}

// dir is the key directory of a resource, with a trailing slash. Names are
// path-escaped so that a "/" in a name cannot reach another resource.
func (e *Engine) dir(resource string) string {
	return e.prefix + "/" + url.PathEscape(resource) + "/"
}

// CheckToken returns nil if token is the fencing token of a grant on
// resource that is still in force, dlm.ErrStaleToken if it is not. The read
// is linearizable, so a token that passes was current at some instant during
// the call.
func (e *Engine) CheckToken(ctx context.Context, resource string, token dlm.Token) error {
	if err := dlm.CheckRequest(resource, dlm.NL); err != nil {
		return err
	}
	dir := e.dir(resource)
	resp, err := e.cli.Get(clientv3.WithRequireLeader(ctx), dir, clientv3.WithPrefix())
	if err != nil {
		return wrapErr("check token", resource, err)
	}
	v := newView()
	for _, kv := range resp.Kvs {
		v.apply(strings.TrimPrefix(string(kv.Key), dir), kv, false)
	}
	v.clean()
	for _, en := range v.entries {
		if en.hasG && en.gTok == token {
			return nil
		}
	}
	return fmt.Errorf("etcdlock: check token %d on %q: %w", token, resource, dlm.ErrStaleToken)
}

// wrapErr maps etcd errors onto dlm sentinels and adds context.
func wrapErr(op, resource string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("etcdlock: %s %q: %w (%w)", op, resource, dlm.ErrSessionExpired, err)
	case errors.Is(err, rpctypes.ErrNoLeader),
		errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrGRPCNoLeader):
		return fmt.Errorf("etcdlock: %s %q: %w (%w)", op, resource, dlm.ErrNoQuorum, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("etcdlock: %s %q: no answer from etcd before the deadline (quorum lost or too slow): %w", op, resource, err)
	}
	return fmt.Errorf("etcdlock: %s %q: %w", op, resource, err)
}
