package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// A scrub (md's check or repair) runs like a resync: only while this node holds the array's
// resync lease and one of the cluster's resync slots — at most scrub.max_concurrent of them —
// so one node scrubs each array and scrubs share resync.max_concurrent with resyncs. Its
// progress is saved in the cluster state (scrubrecord.go) every scrub.checkpoint; a node that
// finds a scrub stopped before its end (its node died, its window closed) resumes it from there
// by writing sync_min, the sector where md starts a requested sync.
//
// md-cluster arrays: the agent starts a scrub on one node under the same leases and never
// freezes anything there; md itself takes md-cluster's `resync` DLM lock (EX) before any sync,
// check included, so the kernel still orders it against other nodes' resyncs and recoveries,
// and the agent's lease is never held around a sync it holds back (there is none).

// scrubMD is the part of md a scrub writes besides sync_action: where it starts and how fast it
// may go. md.FS implements it.
type scrubMD interface {
	SetSyncMin(array string, sectors uint64) error
	SetSyncSpeedMax(array string, kibps uint64) error
}

// isScrub reports whether a sync action is a scrub.
func isScrub(a md.SyncAction) bool { return a == md.SyncCheck || a == md.SyncRepair }

// scrubSlots is how many of the resync slots scrubs may take.
func (r *Reconciler) scrubSlots() int {
	return max(1, min(r.d.Scrub.MaxConcurrent, r.d.Resync.MaxConcurrent))
}

func (r *Reconciler) checkpointEvery() time.Duration {
	if d := r.d.Scrub.Checkpoint.Duration; d > 0 {
		return d
	}
	return 30 * time.Second
}

// scrub is a pass's scrub step, before the sync decisions: it starts a scrub that was asked for
// or is due, checkpoints the one running, pauses it when its window closes, cancels it on
// request, and records how it ended. It returns the array as md now runs it, and done when it
// acted on md (the sync decisions then wait for the next pass).
func (r *Reconciler) scrub(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, Result, bool, error) {
	run := &st.scrub
	if obs == nil {
		// Stopped here (a stand-down, a lost lease): the record keeps the last checkpoint, from
		// which whoever runs the array next resumes.
		run.active, run.stopping = false, ""
		return obs, Result{}, false, nil
	}
	if !run.active && st.sync != nil && isScrub(obs.SyncAction) {
		// A restarted agent adopted the resync lease of its predecessor's scrub.
		if err := r.loadScrub(ctx, s, st); err == nil && run.rec.State == scrubRunning && run.rec.Node == r.d.Node.Name {
			run.active, run.saved = true, time.Time{} // checkpoint at once
		}
	}
	if run.active {
		return r.scrubRunning(ctx, s, st, obs)
	}
	return r.scrubMaybeStart(ctx, s, st, obs)
}

// scrubRunning looks after the scrub this node runs.
func (r *Reconciler) scrubRunning(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, Result, bool, error) {
	run := &st.scrub
	req := st.getIntent().scrub
	window, _ := config.ParseWindow(r.d.Scrub.Window)
	switch {
	case isScrub(obs.SyncAction) && req == api.ScrubIdle:
		st.consumeScrub(api.ScrubIdle)
		return r.stopScrub(st, obs, "cancelled")
	case isScrub(obs.SyncAction) && run.rec.Requested == "schedule" && !window.Contains(time.Now()):
		return r.stopScrub(st, obs, "its window closed")
	case isScrub(obs.SyncAction):
		if time.Since(run.saved) >= r.checkpointEvery() && obs.SyncCompleted != nil && obs.SyncCompleted.Done > run.rec.Pos {
			rec := run.rec
			rec.Pos, rec.Total = obs.SyncCompleted.Done, obs.SyncCompleted.Total
			rec.Mismatches = rec.Base + obs.MismatchCount
			if err := r.saveScrub(ctx, s, st, rec); err != nil {
				r.d.Log.Warn("scrub checkpoint not saved; retried next pass", "array", st.cfg.Name, "err", err)
			} else {
				run.saved = time.Now()
			}
		}
		return obs, Result{}, false, nil
	case time.Since(st.unfrozen) < startGrace:
		return obs, Result{RequeueAfter: startGrace - time.Since(st.unfrozen)}, false, nil
	}
	return obs, Result{}, false, r.scrubEnded(ctx, s, st, obs)
}

// stopScrub interrupts the scrub this node runs; md then records where it got to (sync_min).
func (r *Reconciler) stopScrub(st *arrayState, obs *md.Array, why string) (*md.Array, Result, bool, error) {
	if err := r.d.MD.SetSyncAction(obs.Name, md.SyncIdle); err != nil {
		return obs, Result{}, false, fmt.Errorf("stop the scrub of %s: %w", obs.Name, err)
	}
	st.scrub.stopping = why
	st.unfrozen = time.Now() // md stops asynchronously: look at the end after startGrace
	r.d.Log.Info("scrub stopped", "array", st.cfg.Name, "md", obs.Name, "why", why)
	o := *obs
	o.SyncAction = md.SyncIdle
	return &o, Result{RequeueAfter: startGrace}, true, nil
}

// scrubEnded records how this node's scrub ended once md stopped syncing. md resets sync_min to
// 0 when a requested sync completes and leaves it at the last completed sector when one is
// interrupted: the end is a finish only when sync_min is back at 0, md is idle (not frozen), no
// member failed and nobody here stopped it.
func (r *Reconciler) scrubEnded(ctx context.Context, s *session, st *arrayState, obs *md.Array) error {
	run := &st.scrub
	rec := run.rec
	count := rec.Base + obs.MismatchCount
	if r.d.Scrub.SpeedLimit > 0 {
		if sm, ok := r.d.MD.(scrubMD); ok {
			_ = sm.SetSyncSpeedMax(obs.Name, 0) // back to the system's limit
		}
	}
	finished := obs.SyncMin == 0 && obs.SyncAction == md.SyncIdle && obs.Degraded == 0 && run.stopping == "" &&
		string(obs.LastSyncAction) == rec.Action
	now := time.Now()
	typ, reason := api.EventScrubPaused, run.stopping
	switch {
	case finished:
		rec.State, rec.Pos, rec.Mismatches, rec.Finished = scrubDone, rec.Total, count, now
		typ, reason = api.EventScrubFinished, ""
	case run.stopping == "cancelled":
		rec.State, rec.Mismatches = scrubCancelled, count
		typ = api.EventScrubCancelled
	default:
		rec.State, rec.Mismatches = scrubPaused, count
		rec.Pos = max(rec.Pos, obs.SyncMin) // md's own record of where it got to
		if reason == "" {
			reason = fmt.Sprintf("md stopped it (sync_action %s, degraded %d)", obs.SyncAction, obs.Degraded)
		}
	}
	run.active, run.stopping = false, ""
	err := r.saveScrub(ctx, s, st, rec)
	r.count("scrub_" + rec.State)
	r.event(typ, st, reason, "action", rec.Action, "position", strconv.FormatUint(rec.Pos, 10),
		"total", strconv.FormatUint(rec.Total, 10), "mismatches", strconv.FormatUint(count, 10))
	r.d.Log.Info("scrub ended", "array", st.cfg.Name, "state", rec.State, "mismatches", count, "position", rec.Pos)
	if finished && count > 0 {
		r.event(api.EventScrubMismatch, st, fmt.Sprintf("%s found %d mismatched sectors", rec.Action, count),
			"mismatches", strconv.FormatUint(count, 10), "action", rec.Action)
	}
	return err
}

// scrubMaybeStart starts a scrub that was asked for (mdcadm --action) or is due by the schedule
// (or stopped before its end somewhere), when the array is idle, whole and writable and this
// node can take the resync lease and a scrub slot. A request that cannot start yet stays and is
// tried every pass.
func (r *Reconciler) scrubMaybeStart(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, Result, bool, error) {
	in := st.getIntent()
	if in.scrub == api.ScrubIdle {
		st.consumeScrub(api.ScrubIdle)
		return obs, Result{}, false, r.cancelRecord(ctx, s, st)
	}
	if st.sync != nil || obs.SyncAction != md.SyncIdle || obs.Degraded > 0 ||
		obs.State == md.ArrayReadonly || obs.State == md.ArrayReadAuto || obs.SyncCompleted != nil {
		return obs, Result{}, false, nil
	}
	action, requested := md.SyncAction(in.scrub), in.scrubBy
	if in.scrub == "" {
		if err := r.loadScrub(ctx, s, st); err != nil {
			return obs, Result{}, false, nil // a failed read: no scrub this pass
		}
		if !r.scrubDue(st.scrub.rec, st.scrub.rev, time.Now()) {
			return obs, Result{}, false, nil
		}
		action, requested = md.SyncAction(r.d.Scrub.Action), "schedule"
		if st.scrub.rev != 0 && st.scrub.rec.resumable() {
			action, requested = md.SyncAction(st.scrub.rec.Action), st.scrub.rec.Requested
		}
	}
	ok, err := r.takeSyncN(ctx, s, st, r.scrubSlots())
	if err != nil || !ok {
		return obs, Result{RequeueAfter: 2 * time.Second}, false, err
	}
	if err := r.scrubStarting(ctx, s, st, obs, action, requested); err != nil {
		r.releaseSyncLocks(st)
		return obs, Result{}, false, err
	}
	if err := r.d.MD.SetSyncAction(obs.Name, action); err != nil {
		st.scrub.active = false
		r.releaseSyncLocks(st)
		return obs, Result{}, false, fmt.Errorf("start %s on %s: %w", action, obs.Name, err)
	}
	if in.scrub != "" {
		st.consumeScrub(in.scrub)
	}
	st.unfrozen = time.Now()
	o := *obs
	o.SyncAction = action
	return &o, Result{RequeueAfter: startGrace}, true, nil
}

// scrubDue reports whether the schedule starts (or resumes) a scrub now: one stopped before its
// end resumes at once (inside the window if the schedule started it); otherwise a scrub is due
// scrub.every after the last one finished (or started, if cancelled), inside the window.
func (r *Reconciler) scrubDue(rec scrubRecord, rev int64, now time.Time) bool {
	window, _ := config.ParseWindow(r.d.Scrub.Window)
	inWindow := window.Contains(now)
	if rev != 0 && rec.resumable() {
		return inWindow || rec.Requested != "schedule"
	}
	every := r.d.Scrub.Every.Duration
	switch {
	case every <= 0 || !inWindow:
		return false
	case rev == 0:
		return true
	case rec.State == scrubDone:
		return now.Sub(rec.Finished) >= every
	}
	return now.Sub(rec.Started) >= every
}

// scrubStarting prepares md and the record for a scrub this node is about to start under its
// resync lease: it resumes a scrub of the same action stopped before its end (sync_min at its
// position, its mismatches carried over), sets the speed limit, and saves the record first — a
// scrub whose progress cannot be recorded does not start.
func (r *Reconciler) scrubStarting(ctx context.Context, s *session, st *arrayState, obs *md.Array, action md.SyncAction, requested string) error {
	sm, ok := r.d.MD.(scrubMD)
	if !ok {
		return errors.New("this md interface cannot set sync_min")
	}
	st.scrub.read = time.Time{} // under the lease now: read the latest record
	if err := r.loadScrub(ctx, s, st); err != nil {
		return err
	}
	now := time.Now()
	total := obs.ComponentSize * 2 // KiB to sectors: what md checks on each member
	prev := st.scrub.rec
	rec := scrubRecord{State: scrubRunning, Action: string(action), Node: r.d.Node.Name, Total: total,
		Requested: requested, Started: now}
	if st.scrub.rev != 0 && prev.resumable() && prev.Action == string(action) && prev.Total == total && prev.Pos < total {
		rec.Pos, rec.Base, rec.Mismatches, rec.Started = prev.Pos, prev.Mismatches, prev.Mismatches, prev.Started
		if chunk := obs.ChunkSize / 512; chunk > 0 {
			rec.Pos -= rec.Pos % chunk
		}
		rec.Pos -= rec.Pos % 8 // md rounds sync_min down to 4 KiB
	}
	if err := r.saveScrub(ctx, s, st, rec); err != nil {
		return err
	}
	if obs.SyncMin != rec.Pos { // md keeps an interrupted scrub's position itself
		if err := sm.SetSyncMin(obs.Name, rec.Pos); err != nil {
			return fmt.Errorf("set sync_min of %s to %d: %w", obs.Name, rec.Pos, err)
		}
	}
	if lim := r.d.Scrub.SpeedLimit; lim > 0 {
		if err := sm.SetSyncSpeedMax(obs.Name, uint64(lim)); err != nil {
			return fmt.Errorf("limit the scrub speed of %s: %w", obs.Name, err)
		}
	}
	st.scrub.active, st.scrub.stopping, st.scrub.saved = true, "", now
	r.count("scrub_started")
	r.event(api.EventScrubStarted, st, "", "action", string(action), "from", strconv.FormatUint(rec.Pos, 10),
		"total", strconv.FormatUint(total, 10), "requested", requested)
	r.d.Log.Info("scrub started under the resync lease", "array", st.cfg.Name, "md", obs.Name, "action", action,
		"from", rec.Pos, "total", total, "requested", requested)
	return nil
}

// cancelRecord marks a scrub stopped before its end as cancelled (mdcadm --action=idle while no
// scrub runs here), so that the schedule does not resume it.
func (r *Reconciler) cancelRecord(ctx context.Context, s *session, st *arrayState) error {
	st.scrub.read = time.Time{}
	if err := r.loadScrub(ctx, s, st); err != nil || st.scrub.rev == 0 || !st.scrub.rec.resumable() {
		return err
	}
	rec := st.scrub.rec
	rec.State = scrubCancelled
	if err := r.saveScrub(ctx, s, st, rec); err != nil {
		return err
	}
	r.event(api.EventScrubCancelled, st, "cancelled on request", "action", rec.Action, "position", strconv.FormatUint(rec.Pos, 10))
	return nil
}

// consumeScrub clears a scrub request the pass acted on, unless another came meanwhile.
func (st *arrayState) consumeScrub(acted string) {
	st.setIntent(func(i *intent) {
		if i.scrub == acted {
			i.scrub, i.scrubBy = "", ""
		}
	})
}
