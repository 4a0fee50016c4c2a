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

// syncing reports whether md's sync thread is doing work that rewrites members.
func syncing(a md.SyncAction) bool {
	switch a {
	case md.SyncResync, md.SyncRecover, md.SyncReshape, md.SyncRepair, md.SyncCheck:
		return true
	}
	return false
}

// reconcileSync lets md resync or recover an array only while this node holds the array's
// resync lease and one of the cluster's resync slots (resync.max_concurrent of them): otherwise
// the sync is frozen. It releases both when md is done.
func (a *Agent) reconcileSync(ctx context.Context, st *arrayState, obs *md.Array) error {
	held := st.sync != nil && st.slot != nil
	if obs.State == md.ArrayReadAuto && !held {
		// start_ro made it read-auto (whoever assembled it). Held back, it can go read-write:
		// a needed resync then runs when the lease allows, not at the first write, and the
		// node can confirm md-cluster's new disks (a read-auto array cannot: the confirmation
		// waits for a superblock write that needs the token the adding node holds).
		if err := a.freeze(st, obs); err != nil {
			return err
		}
		if err := a.fs.SetArrayState(obs.Name, md.ArrayActive); err != nil {
			return fmt.Errorf("switch %s to read-write: %w", obs.Name, err)
		}
		a.count("read_write")
		a.log.Info("array switched from read-auto to read-write, its sync held back", "array", st.cfg.Name, "md", obs.Name)
		return nil
	}
	switch {
	case syncing(obs.SyncAction) && !held:
		// md started (or restarted) a sync without our leave: hold it back first.
		return a.freeze(st, obs)
	case obs.SyncAction == md.SyncFrozen && !held:
		return a.startSync(ctx, st, obs)
	case held && obs.SyncAction == md.SyncIdle && time.Since(st.unfrozen) > startGrace:
		a.log.Info("sync finished: releasing resync lease", "array", st.cfg.Name, "md", obs.Name,
			"last_sync_action", obs.LastSyncAction)
		a.count("sync_released")
		a.releaseSync(st)
	case held && obs.SyncAction == md.SyncFrozen:
		// Someone froze it while we hold the lease (an operator, or mdadm): give the slot back.
		a.releaseSync(st)
	}
	return nil
}

func (a *Agent) freeze(st *arrayState, obs *md.Array) error {
	if obs.SyncAction == md.SyncFrozen {
		return nil
	}
	if err := a.fs.SetSyncAction(obs.Name, md.SyncFrozen); err != nil {
		return fmt.Errorf("freeze sync on %s: %w", obs.Name, err)
	}
	a.count("sync_frozen")
	a.log.Info("sync held back until this node holds the resync lease", "array", st.cfg.Name, "md", obs.Name, "was", obs.SyncAction)
	return nil
}

// startSync takes the array's resync lease and a free slot and unfreezes md. md then runs
// whatever sync the array needs (or none, and the leases go back after startGrace).
func (a *Agent) startSync(ctx context.Context, st *arrayState, obs *md.Array) error {
	ok, err := a.takeSync(ctx, st)
	if err != nil || !ok {
		return err
	}
	if err := a.fs.SetSyncAction(obs.Name, md.SyncIdle); err != nil {
		a.releaseSync(st)
		return fmt.Errorf("unfreeze sync on %s: %w", obs.Name, err)
	}
	a.count("sync_started")
	a.log.Info("resync lease and slot held: md may sync", "array", st.cfg.Name, "md", obs.Name,
		"slot", st.slot.Resource(), "token", st.sync.Token())
	return nil
}

// takeSync takes the array's resync lease and one of the cluster's resync slots without
// waiting, and re-checks both fencing tokens. It reports false when either is busy.
func (a *Agent) takeSync(ctx context.Context, st *arrayState) (bool, error) {
	if st.sync != nil && st.slot != nil {
		return true, nil
	}
	l, err := a.tryLock(ctx, syncResource(st.cfg.UUID), dlm.EX)
	if errors.Is(err, dlm.ErrWouldBlock) {
		return false, nil // another node syncs this array (md-cluster) or holds it for mdcadm
	}
	if err != nil {
		return false, fmt.Errorf("take resync lease: %w", err)
	}
	var slot dlm.Lock
	for i := 0; i < a.cfg.Resync.MaxConcurrent && slot == nil; i++ {
		slot, err = a.tryLock(ctx, slotResource(i), dlm.EX)
		if err != nil && !errors.Is(err, dlm.ErrWouldBlock) {
			release(l)
			return false, fmt.Errorf("take resync slot %d: %w", i, err)
		}
	}
	if slot == nil {
		release(l)
		return false, nil // every slot busy: stay frozen and try again next pass
	}
	for _, x := range []dlm.Lock{l, slot} {
		if err := a.check(ctx, x.Resource(), x.Token()); err != nil {
			release(l)
			release(slot)
			return false, fmt.Errorf("resync lease token went stale: %w", err)
		}
	}
	st.sync, st.slot, st.unfrozen = l, slot, time.Now()
	return true, nil
}

func (a *Agent) releaseSync(st *arrayState) {
	release(st.slot)
	release(st.sync)
	st.sync, st.slot = nil, nil
}
