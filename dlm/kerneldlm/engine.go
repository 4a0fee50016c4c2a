// Package kerneldlm is the Linux kernel DLM engine of mdcluster.dev/dlm,
// in pure Go over the DLM user device API: /dev/misc/dlm-control creates
// or joins a lockspace, /dev/misc/dlm_<lockspace> takes, converts and
// releases locks; results and blocking notices (basts) come back by read().
//
// What differs from the etcd engine, honestly:
//
//   - No TTL. A session is an open lockspace device: its locks go when it is
//     closed or the process dies (the kernel drops an fd's locks). A dead
//     node's locks go when the DLM recovers the lockspace, that is after the
//     control daemon has removed the node (after fencing it). WithTTL is
//     ignored; Done closes only when the device fails or Close is called.
//   - No fencing token. Lock ids are small and recycled, and an LVB counter
//     can only be written from PW/EX and is invalidated when its writer
//     dies, so nothing strictly increasing can be derived. Token returns 0
//     and CheckToken returns dlm.ErrNotSupported: fence with the etcd engine.
//   - No conversion deadlock detection of our own: the kernel's (-EDEADLK,
//     dlm.ErrDeadlock) applies.
//
// The host needs a kernel with CONFIG_DLM, a running control daemon
// (dlm_controld or a stand-in) and CAP_SYS_ADMIN to create lockspaces.
package kerneldlm

import (
	"context"
	"fmt"

	"mdcluster.dev/dlm"
)

// Opaque "addresses" echoed back by the kernel: a result's user_astaddr
// tells a completion from a blocking notice. The kernel only stores them
// (they must be non-zero to get callbacks at all).
const (
	castAddr = 0xca57
	bastAddr = 0xba57
)

// DefaultLockspace is the lockspace used when WithLockspace is not given.
const DefaultLockspace = "mdcluster"

// Engine opens sessions on one kernel lockspace.
type Engine struct {
	open      opener
	lockspace string
}

var _ dlm.Engine = (*Engine)(nil)

// Option configures New.
type Option func(*Engine)

// WithLockspace names the lockspace (at most 64 bytes; every node must use
// the same name).
func WithLockspace(name string) Option { return func(e *Engine) { e.lockspace = name } }

// WithDeviceDir sets where dlm-control and dlm_<lockspace> live (default
// /dev/misc, libdlm's path; /dev works with devtmpfs).
func WithDeviceDir(dir string) Option { return func(e *Engine) { e.open = fsOpener{dir: dir} } }

// New returns an engine for the kernel DLM.
func New(opts ...Option) *Engine {
	e := &Engine{open: fsOpener{dir: "/dev/misc"}, lockspace: DefaultLockspace}
	for _, o := range opts {
		o(e)
	}
	return e
}

// NewSession creates or joins the lockspace and opens its device. ctx is
// not consulted once the create request is written: the kernel blocks the
// write until the control daemon has answered the join.
func (e *Engine) NewSession(ctx context.Context, opts ...dlm.SessionOption) (dlm.Session, error) {
	return e.Open(ctx, opts...)
}

// Open is NewSession returning the concrete type.
func (e *Engine) Open(ctx context.Context, _ ...dlm.SessionOption) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	minor, err := e.lspace(cmdCreateLockspace, 0, 0)
	if err != nil {
		return nil, err
	}
	dev, err := e.open.lockspace(e.lockspace, minor)
	if err != nil {
		return nil, fmt.Errorf("kerneldlm: open lockspace %q: %w", e.lockspace, err)
	}
	s := newSession(e, dev)
	s.minor = minor
	return s, nil
}

// lspace sends a create or remove request on the control device. The kernel finds the
// lockspace to remove by the misc minor its create returned, not by name.
func (e *Engine) lspace(cmd byte, flags uint32, minor int) (int, error) {
	req := lspaceRequest{cmd: cmd, flags: flags, minor: uint32(minor), name: e.lockspace}
	b, err := req.MarshalBinary()
	if err != nil {
		return 0, err
	}
	ctl, err := e.open.control()
	if err != nil {
		return 0, fmt.Errorf("kerneldlm: control device: %w", err)
	}
	defer ctl.Close()
	n, err := ctl.Write(b)
	if err != nil {
		op := "create"
		if cmd == cmdRemoveLockspace {
			op = "remove"
		}
		return 0, fmt.Errorf("kerneldlm: %s lockspace %q: %w", op, e.lockspace, err)
	}
	return n, nil
}
