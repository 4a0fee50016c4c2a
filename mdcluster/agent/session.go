package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
)

// sessionFile records the etcd lease of the running session next to the API socket (a tmpfs
// in /run: it survives an agent restart, not a reboot). A restarted agent resumes that lease
// and adopts its locks, so a kill -9 never hands an array to another node or repeats an
// assembly.
func (a *Agent) sessionFile() string {
	return filepath.Join(filepath.Dir(a.cfg.Listen.APISocket), "session")
}

// openSession resumes the previous process's session when its lease is still alive, or opens
// a new one. It reports whether it resumed.
func (a *Agent) openSession(ctx context.Context) (dlm.Session, bool, error) {
	if a.locks.etcd != nil {
		if b, err := os.ReadFile(a.sessionFile()); err == nil {
			id, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 16, 64)
			if perr == nil {
				s, err := a.locks.etcd.Resume(ctx, dlm.SessionID(id))
				if err == nil {
					return s, true, nil
				}
				a.log.Info("previous session is gone; opening a new one", "lease", fmt.Sprintf("%x", id), "err", err)
			}
		}
	}
	sess, err := a.locks.engine.NewSession(ctx, dlm.WithTTL(a.cfg.Leases.TTL.Duration))
	if err != nil {
		return nil, false, fmt.Errorf("open session: %w", err)
	}
	if ls, ok := sess.(interface{ Lease() clientv3.LeaseID }); ok {
		if err := os.WriteFile(a.sessionFile(), []byte(fmt.Sprintf("%x\n", int64(ls.Lease()))), 0o600); err != nil {
			a.log.Warn("cannot record the session for a restart", "err", err)
		}
	}
	return sess, false, nil
}

// forgetSession removes the record after the session ended on purpose or expired.
func (a *Agent) forgetSession() { _ = os.Remove(a.sessionFile()) }

// adopt takes over the locks the previous process held in a resumed session.
func (a *Agent) adopt(ctx context.Context, sess dlm.Session) {
	ad, ok := sess.(interface {
		Adopt(context.Context, string) (dlm.Lock, error)
	})
	if !ok {
		return
	}
	get := func(res string) dlm.Lock {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		l, err := ad.Adopt(cctx, res)
		if err != nil {
			if !errors.Is(err, dlm.ErrNotHeld) {
				a.log.Error("adopt lock", "resource", res, "err", err)
			}
			return nil
		}
		a.log.Info("adopted lock from the previous process", "resource", res, "token", l.Token())
		return l
	}
	var slots []dlm.Lock
	for i := 0; i < a.cfg.Resync.MaxConcurrent; i++ {
		if l := get(slotResource(i)); l != nil {
			slots = append(slots, l)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, uuid := range a.sortedUUIDs() {
		st := a.arrays[uuid]
		st.act = get(actResource(uuid))
		if st.sync = get(syncResource(uuid)); st.sync != nil && len(slots) > 0 {
			st.slot, slots = slots[0], slots[1:]
		}
	}
	for _, l := range slots {
		release(l)
	}
}
