package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mdcluster.dev/dlm"
)

// The fencing-token log is a local, append-only record of what this node did with its
// activation leases: one JSON line per grant, assembly, stop and release, with the array, the
// fencing token and a CLOCK_MONOTONIC time. It lets a checker that trusts neither the agent's
// memory nor its log messages tell, from every node's records, whether an exclusive array ever
// ran on two nodes or was assembled with a token that was no longer current. A grant and an
// assembly are written (synchronously, O_SYNC) before md is touched; a stop after md stopped
// the array; a release after the lock service took the lease back. A failed write is logged and
// does not hold the action back: the log is evidence, not a lock.
const tokenLogName = "tokens.jsonl"

// tokenLogMax bounds the log: past it the file is rotated once (to tokens.jsonl.1).
const tokenLogMax = 4 << 20

// tokenEvent is one line of the log.
type tokenEvent struct {
	Event string `json:"event"` // granted, adopted, assemble, stopped, released
	Array string `json:"array"` // UUID, mdadm form
	MD    string `json:"md,omitempty"`
	Token uint64 `json:"token,omitempty"`
	Node  string `json:"node"`
	Boot  string `json:"boot_id"`
	Mono  int64  `json:"mono_ns"` // CLOCK_MONOTONIC
	PID   int    `json:"pid"`
}

var tokenLogMu sync.Mutex

// recordToken appends one event to the log under p.Run.
func (p Paths) recordToken(node, event, array, mdName string, tok dlm.Token) error {
	if p.Run == "" {
		return nil
	}
	path := filepath.Join(p.Run, tokenLogName)
	tokenLogMu.Lock()
	defer tokenLogMu.Unlock()
	if fi, err := os.Stat(path); err == nil && fi.Size() > tokenLogMax {
		_ = os.Rename(path, path+".1")
	}
	b, _ := json.Marshal(tokenEvent{Event: event, Array: array, MD: mdName, Token: uint64(tok), Node: node,
		Boot: p.bootID(), Mono: monoNow(), PID: os.Getpid()})
	if err := os.MkdirAll(p.Run, 0o700); err != nil {
		return fmt.Errorf("token log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o600)
	if err != nil {
		return fmt.Errorf("token log: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("token log: %w", err)
	}
	return nil
}

// token records an activation event of a reconciler's array.
func (r *Reconciler) token(event string, st *arrayState, mdName string, tok dlm.Token) {
	if err := r.d.Paths.recordToken(r.d.Node.Name, event, st.cfg.UUID, mdName, tok); err != nil {
		r.d.Log.Warn("fencing-token log", "event", event, "array", st.cfg.Name, "err", err)
	}
}

// tokenReleased records the release of a lock that is an activation lease.
func (r *Reconciler) tokenReleased(st *arrayState, l dlm.Lock) {
	if strings.HasPrefix(l.Resource(), "act/") {
		r.token("released", st, "", l.Token())
	}
}
