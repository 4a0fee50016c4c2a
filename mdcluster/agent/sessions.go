package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"mdcluster.dev/dlm"
)

// sessionRecord is what a running agent keeps in Paths.Run/session for its own restart (a
// tmpfs: it survives agent restarts, not reboots). With it a restarted agent — after kill -9,
// a crash or systemctl restart — resumes its session and adopts its locks, so nothing is
// stopped, assembled twice or taken over; and it pets the watchdog against the recorded
// deadline until it has resumed.
type sessionRecord struct {
	Session dlm.SessionID `json:"session"`
	BootID  string        `json:"boot_id"`
	// DeadlineMono is the session's deadline on CLOCK_MONOTONIC in ns: the one clock a process
	// shares with its successor, and one a wall-clock step does not move.
	DeadlineMono int64 `json:"deadline_monotonic_ns"`
	// Timeout is the watchdog timeout the process used (0: none), for its successor's fence
	// point.
	Timeout time.Duration `json:"watchdog_timeout_ns,omitempty"`
}

// memberInfo is what a node publishes about itself, bound to its session.
type memberInfo struct {
	Name    string        `json:"name"`
	ID      int           `json:"id"`
	Address string        `json:"address,omitempty"`
	BootID  string        `json:"boot_id,omitempty"`
	Session dlm.SessionID `json:"session,omitempty"`
}

// sessionManager opens, resumes and records the node's session. Only its own goroutine opens
// sessions; everyone else reads the current one.
type sessionManager struct {
	eng       dlm.Engine
	ttl       time.Duration
	paths     Paths
	bootID    string
	member    memberInfo
	memberKey string
	// resources lists the lock resources a resumed session may hold (to adopt them).
	resources func() []string
	log       *slog.Logger

	cur atomic.Pointer[session]
	gen atomic.Uint64
	// recorded is the previous process's session deadline while it is being resumed: the
	// fencer protects what that session protected until then (set before the watchdog is
	// opened, so that no pet outlives that session's fence point). recordedTimeout is the
	// watchdog timeout that process used.
	recorded        atomic.Pointer[time.Time]
	recordedTimeout atomic.Int64
	// written is the deadline last written to the session file.
	written atomic.Int64
	// timeout is the watchdog timeout in use (recorded for a successor; reported by Status).
	timeout atomic.Int64
	// previousGone runs the session-lost steps for the previous process's session when it
	// turns out to be gone (it expired while nobody renewed it): whatever it ran may now run
	// elsewhere. It reports false when the node is being reset.
	previousGone func() bool
}

// errFencedAtStart means the node is being reset before a session could be opened.
var errFencedAtStart = errors.New("the previous process's session is gone while this node may still write: the node resets itself")

// current returns the valid session, or nil.
func (m *sessionManager) current() *session {
	s := m.cur.Load()
	if s == nil || !s.valid() {
		return nil
	}
	return s
}

// open resumes the session this agent's previous process left, or opens a new one. A resume
// that fails for any reason but "the session is gone" is retried until ctx ends: opening a new
// session instead would leave the old one holding locks nobody knows of.
func (m *sessionManager) open(ctx context.Context) (*session, error) {
	gen := m.gen.Add(1)
	if rec, ok := m.readRecord(); ok {
		d := monoToTime(rec.DeadlineMono)
		m.recorded.Store(&d)
		s, err := m.resume(ctx, rec.Session, gen)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, dlm.ErrSessionExpired) {
			return nil, err
		}
		m.log.Warn("the previous process's session is gone; stopping what it ran before opening a new one", "session", fmt.Sprintf("%x", rec.Session))
		if m.previousGone != nil && !m.previousGone() {
			return nil, errFencedAtStart
		}
	}
	s, err := m.eng.NewSession(ctx, dlm.WithTTL(m.ttl))
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	ss := newSession(s, gen, false)
	if old := m.previousIncarnation(ctx, ss); old != 0 {
		// The record was lost but the member key names a session of this boot: an earlier
		// process of this agent. Resume it rather than run beside it.
		m.log.Warn("found this boot's earlier session without a session file; resuming it", "session", fmt.Sprintf("%x", old))
		if prev, err := m.resume(ctx, old, gen); err == nil {
			go closeQuietly(s)
			return prev, nil
		} else if !errors.Is(err, dlm.ErrSessionExpired) {
			go closeQuietly(s)
			return nil, err
		}
	}
	m.recorded.Store(nil)
	m.record(ss)
	return ss, nil
}

// resume continues session id and adopts its locks, retrying transient errors until ctx ends.
func (m *sessionManager) resume(ctx context.Context, id dlm.SessionID, gen uint64) (*session, error) {
	r, ok := m.eng.(dlm.Resumer)
	if !ok || id == 0 {
		return nil, fmt.Errorf("resume session %x: %w", id, dlm.ErrSessionExpired)
	}
	for {
		s, err := r.Resume(ctx, id)
		if err == nil {
			ss := newSession(s, gen, true)
			if err := m.adopt(ctx, ss); err != nil {
				// Keep the session (its locks stay ours) for the next attempt.
				if o, ok := s.(interface{ Orphan() }); ok {
					o.Orphan()
				}
				return nil, err
			}
			m.recorded.Store(nil)
			m.record(ss)
			m.log.Info("resumed the previous process's session", "session", fmt.Sprintf("%x", id), "adopted", len(ss.adopted))
			return ss, nil
		}
		if errors.Is(err, dlm.ErrSessionExpired) {
			return nil, err
		}
		m.log.Warn("cannot resume the previous session yet; retrying (a new session would run beside it)", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// adopt takes over the locks the session holds. An adoption that fails for a transient reason
// is retried: a lock left unadopted would look like another holder's.
func (m *sessionManager) adopt(ctx context.Context, s *session) error {
	ad, ok := s.Session.(dlm.Adopter)
	if !ok {
		return nil
	}
	for _, res := range m.resources() {
		for {
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			l, err := ad.Adopt(cctx, res)
			cancel()
			if err == nil {
				s.adopted[res] = l
				m.log.Info("adopted lock from the previous process", "resource", res, "token", l.Token())
				break
			}
			if errors.Is(err, dlm.ErrNotHeld) {
				break
			}
			if errors.Is(err, dlm.ErrSessionExpired) || errors.Is(err, dlm.ErrClosed) || ctx.Err() != nil {
				return fmt.Errorf("adopt %s: %w", res, err)
			}
			m.log.Warn("adopt lock: retrying", "resource", res, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// previousIncarnation returns the session named by this node's member key when that key was
// written in this boot by another session, or 0.
func (m *sessionManager) previousIncarnation(ctx context.Context, s *session) dlm.SessionID {
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok || m.bootID == "" {
		return 0
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kvs, _, err := ss.Store().Get(cctx, m.memberKey, 0)
	if err != nil {
		return 0
	}
	for _, kv := range kvs {
		var mi memberInfo
		if kv.Key != m.memberKey || json.Unmarshal(kv.Value, &mi) != nil {
			continue
		}
		if mi.BootID == m.bootID && kv.Session != 0 && kv.Session != s.id {
			return kv.Session
		}
		if kv.Session != 0 && mi.BootID != m.bootID {
			m.log.Warn("another session is registered under this node's name (an earlier boot, or a second server with the same node.name)",
				"session", fmt.Sprintf("%x", kv.Session), "boot_id", mi.BootID)
		}
	}
	return 0
}

// register publishes this node as a member under the session.
func (m *sessionManager) register(ctx context.Context, s *session) error {
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return nil
	}
	mi := m.member
	mi.BootID, mi.Session = m.bootID, s.id
	b, _ := json.Marshal(mi)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := ss.Store().Put(cctx, m.memberKey, b); err != nil {
		return fmt.Errorf("register member %s: %w", mi.Name, err)
	}
	return nil
}

// record writes the session file when the session or its deadline moved.
func (m *sessionManager) record(s *session) {
	if s.id == 0 {
		return
	}
	d, ok := s.deadline()
	if !ok {
		return
	}
	mono := timeToMono(d)
	if prev := m.written.Load(); prev != 0 && mono-prev < int64(m.ttl/12) && mono >= prev {
		return
	}
	b, _ := json.Marshal(sessionRecord{Session: s.id, BootID: m.bootID, DeadlineMono: mono, Timeout: time.Duration(m.timeout.Load())})
	if err := writeFileAtomic(m.paths.sessionFile(), b); err != nil {
		m.log.Warn("cannot record the session for a restart", "err", err)
		return
	}
	m.written.Store(mono)
}

// forget removes the session file: the session ended on purpose.
func (m *sessionManager) forget() {
	_ = os.Remove(m.paths.sessionFile())
	m.written.Store(0)
}

func (m *sessionManager) readRecord() (sessionRecord, bool) {
	var rec sessionRecord
	b, err := os.ReadFile(m.paths.sessionFile())
	if err != nil {
		return rec, false
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Session == 0 {
		m.log.Warn("ignoring an unreadable session file", "file", m.paths.sessionFile(), "err", err)
		return rec, false
	}
	if rec.BootID != m.bootID {
		return rec, false // an earlier boot's (the tmpfs was not cleared)
	}
	return rec, true
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func closeQuietly(s dlm.Session) { _ = s.Close() }

// monoNow reads CLOCK_MONOTONIC, which Go's own monotonic readings also use.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func timeToMono(t time.Time) int64 { return monoNow() + int64(time.Until(t)) }

func monoToTime(ns int64) time.Time { return time.Now().Add(time.Duration(ns - monoNow())) }
