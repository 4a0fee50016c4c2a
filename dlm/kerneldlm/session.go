package kerneldlm

import (
	"golang.org/x/sys/unix"

	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"mdcluster.dev/dlm"
)

// Session is an open lockspace device with its read loop. It is safe for
// concurrent use.
type Session struct {
	eng   *Engine
	dev   device
	minor int // misc minor of the lockspace device, from CREATE_LOCKSPACE

	mu    sync.Mutex
	locks map[uint64]*Lock // by handle, echoed as astparam
	next  uint64

	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	loopDone chan struct{}
	endErr   error
	closed   atomic.Bool
}

var _ dlm.Session = (*Session)(nil)

func newSession(e *Engine, dev device) *Session {
	s := &Session{eng: e, dev: dev, locks: map[uint64]*Lock{}, done: make(chan struct{}), loopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.readLoop()
	return s
}

// readLoop reads one result per read() and dispatches it by astparam: a
// completion to the waiting call, a blocking notice to the holder's
// callback. It ends when the device fails or is closed.
func (s *Session) readLoop() {
	defer close(s.loopDone)
	buf := make([]byte, readBufLen)
	for {
		n, err := s.dev.Read(buf)
		if err != nil {
			s.end(fmt.Errorf("kerneldlm: read lockspace %q: %w", s.eng.lockspace, err))
			return
		}
		var r lockResult
		if err := r.UnmarshalBinary(buf[:n]); err != nil {
			s.end(fmt.Errorf("kerneldlm: lockspace %q: %w", s.eng.lockspace, err))
			return
		}
		s.mu.Lock()
		l := s.locks[r.astParam]
		s.mu.Unlock()
		if l == nil {
			continue // a lock we gave up on (its call was abandoned)
		}
		switch r.astAddr {
		case bastAddr:
			if l.bast != nil {
				l.bast(r.bastMode)
			}
		case castAddr:
			select {
			case l.comp <- r:
			default: // at most two completions per request are in flight
			}
		}
	}
}

func (s *Session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.endErr = err
	s.cancel()
	close(s.done)
}

// Done is closed when the device fails or the session is closed. There is
// no lease: see the package documentation.
func (s *Session) Done() <-chan struct{} { return s.done }

// Ctx is cancelled when Done is closed.
func (s *Session) Ctx() context.Context { return s.ctx }

// Close closes the device, which releases every lock of the session, and
// removes our reference to the lockspace (the kernel counts one per create).
func (s *Session) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	cerr := s.dev.Close()
	<-s.loopDone
	s.end(dlm.ErrClosed)
	// REMOVE blocks while a device fd is open (ours is closed now) and
	// fails with EBUSY while others still hold locks: then they keep it.
	_, rerr := s.eng.lspace(cmdRemoveLockspace, 0, s.minor)
	if errors.Is(rerr, unix.EBUSY) {
		rerr = nil // another process of this node still uses the lockspace
	}
	return errors.Join(cerr, rerr)
}

// alive returns why the session can no longer be used, or nil.
func (s *Session) alive(op, resource string) error {
	select {
	case <-s.done:
	default:
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("kerneldlm: %s %q: %w", op, resource, dlm.ErrClosed)
	}
	return fmt.Errorf("kerneldlm: %s %q: %w (%w)", op, resource, dlm.ErrSessionExpired, s.endErr)
}

// CheckToken is not supported by the kernel engine: it has no fencing
// tokens (see the package documentation).
func (s *Session) CheckToken(_ context.Context, resource string, _ dlm.Token) error {
	return fmt.Errorf("kerneldlm: check token on %q: %w", resource, dlm.ErrNotSupported)
}

// register gives l a handle and routes its results to it.
func (s *Session) register(l *Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	l.h = s.next
	s.locks[l.h] = l
}

func (s *Session) unregister(l *Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locks, l.h)
}
