package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/dlm"
)

// session is the node's session in the lock engine as the agent uses it. The agent treats it
// as lost from its fence point on (see mdcluster/fence), or when the engine ends it, whichever
// comes first: after that no pass acts on md or on its locks.
type session struct {
	dlm.Session
	gen     uint64        // numbers the agent's sessions; array state of an older one is void
	id      dlm.SessionID // 0 when the engine has no session IDs
	resumed bool

	mu      sync.Mutex
	adopted map[string]dlm.Lock // locks granted before a restart, until a pass takes them

	lostOnce sync.Once
	lostCh   chan struct{}
	// fenceHandled: the guard has run the session-lost steps for this session; decided is
	// closed once it has also decided whether the node must be reset.
	fenceHandled atomic.Bool
	decided      chan struct{}
}

func newSession(s dlm.Session, gen uint64, resumed bool) *session {
	ss := &session{Session: s, gen: gen, resumed: resumed, lostCh: make(chan struct{}), decided: make(chan struct{}), adopted: map[string]dlm.Lock{}}
	if idd, ok := s.(dlm.Identified); ok {
		ss.id = idd.ID()
	}
	return ss
}

// deadline is the earliest moment the lock service may expire the session; ok is false for
// engines that do not know it (the kernel DLM: the cluster stack fences).
func (s *session) deadline() (time.Time, bool) {
	d, ok := s.Session.(dlm.Deadliner)
	if !ok {
		return time.Time{}, false
	}
	return d.Deadline(), true
}

// lost is closed once the agent stopped trusting the session.
func (s *session) lost() <-chan struct{} { return s.lostCh }

func (s *session) markLost() { s.lostOnce.Do(func() { close(s.lostCh) }) }

// valid reports whether the session may still be acted on.
func (s *session) valid() bool {
	select {
	case <-s.lostCh:
		return false
	case <-s.Done():
		return false
	default:
		return true
	}
}

// takeAdopted hands a pass the lock the previous process held on res, once.
func (s *session) takeAdopted(res string) dlm.Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.adopted[res]
	delete(s.adopted, res)
	return l
}

// ctx returns a context that ends when the session is lost or parent ends: every lock call and
// every md action of a pass runs under it.
func (s *session) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(s.Session.Ctx(), cancel)
	go func() {
		select {
		case <-s.lostCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { stop(); cancel() }
}

// errNoSession means there is no valid session: the pass does nothing.
var errNoSession = errors.New("no valid session in the lock engine")

// errShuttingDown is returned to API callers while the agent stops.
var errShuttingDown = errors.New("mdclusterd is shutting down")
