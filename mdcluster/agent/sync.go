package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/md"
)

// startGrace is how long after letting md's sync run the agent keeps its leases even if md
// still shows idle: md starts the sync thread asynchronously.
const startGrace = 3 * time.Second

// syncing reports whether md's sync thread is doing work that reads or rewrites members.
func syncing(a md.SyncAction) bool {
	switch a {
	case md.SyncResync, md.SyncRecover, md.SyncReshape, md.SyncRepair, md.SyncCheck:
		return true
	}
	return false
}

// syncExclusive lets md sync an exclusive array only while this node holds the array's resync
// lease and one of the cluster's resync slots (resync.max_concurrent); otherwise the sync is
// frozen. A check or repair someone asked for is frozen too and started once the leases are
// held — never dropped. The leases go back when md is done.
func (r *Reconciler) syncExclusive(ctx context.Context, s *session, st *arrayState, obs *md.Array) (Result, error) {
	held := st.sync != nil && st.slot != nil
	if held {
		for _, l := range []dlm.Lock{st.sync, st.slot} {
			if err := checkToken(ctx, s, l); gone(err) {
				// The lease is gone while md syncs: hold the sync back at once.
				st.sync, st.slot = nil, nil
				r.d.Log.Error("resync lease lost while md syncs: holding the sync back", "array", st.cfg.Name, "err", err)
				return Result{}, r.freeze(st, obs)
			}
		}
	}
	wants := st.getIntent().syncFor != ""
	switch {
	case (obs.State == md.ArrayReadAuto || (obs.State == md.ArrayReadonly && st.roAfterAssembly)) && !held:
		// Our assembly starts it read-only (an md_mod start_ro=1 read-auto): hold its sync back,
		// then let it write, so a needed resync runs when the lease allows, not at the first
		// write. An array an operator made read-only stays so.
		if err := r.freeze(st, obs); err != nil {
			return Result{}, err
		}
		if err := r.d.MD.SetArrayState(obs.Name, md.ArrayActive); err != nil {
			return Result{}, fmt.Errorf("switch %s to read-write: %w", obs.Name, err)
		}
		st.roAfterAssembly = false
		r.count("read_write")
		return Result{}, nil
	case syncing(obs.SyncAction) && !held:
		// md started (or someone asked for) a sync without our leave: hold it back first. A
		// scrub is remembered and started under the lease.
		if obs.SyncAction == md.SyncCheck || obs.SyncAction == md.SyncRepair {
			st.wanted = obs.SyncAction
		}
		return Result{}, r.freeze(st, obs)
	case obs.SyncAction == md.SyncFrozen && !held:
		return r.startSync(ctx, s, st, obs)
	case wants && !held:
		_, err := r.takeSync(ctx, s, st)
		return Result{}, err
	case held && obs.SyncAction == md.SyncFrozen:
		// Someone froze it while we hold the lease (an operator, or mdadm): give it back.
		r.releaseSyncLocks(st)
		return Result{}, nil
	case held && !syncing(obs.SyncAction) && !wants:
		if wait := startGrace - time.Since(st.unfrozen); wait > 0 {
			return Result{RequeueAfter: wait}, nil
		}
		r.d.Log.Info("sync finished: releasing the resync lease", "array", st.cfg.Name, "md", obs.Name, "last_sync_action", obs.LastSyncAction)
		r.count("sync_released")
		r.releaseSyncLocks(st)
	}
	return Result{}, nil
}

// freeze holds md's sync back (writing "frozen" also ends read-auto).
func (r *Reconciler) freeze(st *arrayState, obs *md.Array) error {
	if obs.SyncAction == md.SyncFrozen {
		return nil
	}
	if err := r.d.MD.SetSyncAction(obs.Name, md.SyncFrozen); err != nil {
		return fmt.Errorf("freeze sync on %s: %w", obs.Name, err)
	}
	r.count("sync_frozen")
	r.d.Log.Info("sync held back until this node holds the resync lease", "array", st.cfg.Name, "md", obs.Name, "was", obs.SyncAction)
	return nil
}

// startSync takes the array's resync lease and a free slot and unfreezes md: with the scrub
// that was asked for, or idle (md then runs whatever sync the array needs, or none, and the
// leases go back after startGrace).
func (r *Reconciler) startSync(ctx context.Context, s *session, st *arrayState, obs *md.Array) (Result, error) {
	ok, err := r.takeSync(ctx, s, st)
	if err != nil || !ok {
		return Result{RequeueAfter: 2 * time.Second}, err
	}
	if !s.valid() {
		return Result{}, errNoSession
	}
	action := md.SyncIdle
	if st.wanted != "" {
		action = st.wanted
	}
	if err := r.d.MD.SetSyncAction(obs.Name, action); err != nil {
		r.releaseSyncLocks(st)
		return Result{}, fmt.Errorf("let md sync %s (%s): %w", obs.Name, action, err)
	}
	st.wanted = ""
	st.unfrozen = time.Now()
	r.count("sync_started")
	r.d.Log.Info("resync lease and slot held: md may sync", "array", st.cfg.Name, "md", obs.Name, "action", action,
		"slot", st.slot.Resource(), "token", st.sync.Token())
	return Result{RequeueAfter: startGrace}, nil
}

// takeSync takes the array's resync lease and one of the cluster's resync slots without
// waiting, and re-checks both fencing tokens. It reports false when either is busy.
func (r *Reconciler) takeSync(ctx context.Context, s *session, st *arrayState) (bool, error) {
	if st.sync != nil && st.slot != nil {
		return true, nil
	}
	if st.sync == nil {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		l, err := s.TryLock(cctx, syncResource(st.cfg.UUID), dlm.EX)
		cancel()
		if errors.Is(err, dlm.ErrWouldBlock) {
			return false, nil // another node syncs this array or holds it for mdcadm
		}
		if err != nil {
			return false, fmt.Errorf("take resync lease: %w", err)
		}
		st.sync = l
		st.unfrozen = time.Now()
	}
	for i := 0; i < r.d.Resync.MaxConcurrent && st.slot == nil; i++ {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		l, err := s.TryLock(cctx, slotResource(i), dlm.EX)
		cancel()
		if err == nil {
			st.slot = l
			break
		}
		if !errors.Is(err, dlm.ErrWouldBlock) {
			return false, fmt.Errorf("take resync slot %d: %w", i, err)
		}
	}
	if st.slot == nil {
		r.releaseSyncLocks(st) // every slot busy: stay frozen and try again later
		return false, nil
	}
	for _, l := range []dlm.Lock{st.sync, st.slot} {
		if err := checkToken(ctx, s, l); err != nil {
			if gone(err) {
				st.sync, st.slot = nil, nil
			}
			return false, fmt.Errorf("resync lease token: %w", err)
		}
	}
	return true, nil
}

// releaseSyncLocks gives back the resync lease and slot (kept for a retry if the lock service
// does not answer).
func (r *Reconciler) releaseSyncLocks(st *arrayState) {
	if st.slot != nil {
		r.giveBack(st, st.slot)
	}
	if st.sync != nil {
		r.giveBack(st, st.sync)
	}
	st.sync, st.slot = nil, nil
}

// clustered drives an md-cluster array. The kernel's own resync lock orders its syncs across
// the nodes, so the agent never holds one back: freezing a running md-cluster sync interrupts
// it, and holding an agent lease around md-cluster's lock deadlocked a recovery. The resync
// lease is taken only for a caller (mdcadm --add) and given back once md is done.
func (r *Reconciler) clustered(ctx context.Context, s *session, st *arrayState, obs *md.Array) (Result, error) {
	if err := r.releaseStale(st); err != nil {
		return Result{}, err
	}
	wants := st.getIntent().syncFor != ""
	switch {
	case wants && st.sync == nil:
		_, err := r.takeSync(ctx, s, st)
		return Result{}, err
	case !wants && st.sync != nil && (obs == nil || !syncing(obs.SyncAction)):
		if wait := startGrace - time.Since(st.unfrozen); wait > 0 {
			return Result{RequeueAfter: wait}, nil
		}
		r.releaseSyncLocks(st)
		r.count("sync_released")
	}
	return Result{}, nil
}
