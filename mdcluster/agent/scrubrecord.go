package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
)

// Scrub record states.
const (
	scrubRunning   = "running"   // a node scrubs, or did until it died: resumable from Pos
	scrubPaused    = "paused"    // stopped before the end (window closed, frozen): resumable from Pos
	scrubDone      = "done"      // finished; Mismatches is the whole scrub's count
	scrubCancelled = "cancelled" // stopped on request (mdcadm --action=idle); the next starts from 0
)

// scrubRecord is an array's scrub as the cluster state keeps it, in a key bound to no session
// (dlm.Log) so that it outlives the node that scrubs: another node resumes a scrub from Pos, and
// the schedule counts from Finished.
type scrubRecord struct {
	State  string `json:"state"`
	Action string `json:"action"` // check or repair
	Node   string `json:"node"`   // the node that last ran it
	// Pos is the sector the scrub has checked up to (sync_completed as last saved): where it
	// resumes (sync_min).
	Pos   uint64 `json:"pos"`
	Total uint64 `json:"total"`
	// Base is the mismatch count of the segments before the running one (md counts each run of
	// its own from zero); Mismatches is Base plus the running segment's count as last saved.
	Base       uint64    `json:"base"`
	Mismatches uint64    `json:"mismatches"`
	Requested  string    `json:"requested"` // "schedule", "sync_action", or the caller (mdcadm)
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	Finished   time.Time `json:"finished,omitzero"`
}

// resumable reports whether the record is a scrub that stopped before its end.
func (r *scrubRecord) resumable() bool { return r.State == scrubRunning || r.State == scrubPaused }

// scrubRun is what a node's pass keeps about an array's scrub between passes.
type scrubRun struct {
	rec    scrubRecord
	rev    int64     // the record's mod revision as last read or written; 0: no record
	read   time.Time // when rec was last read from the store (zero: never)
	active bool      // md runs the scrub this node started: checkpoint it, end it when md stops
	// stopping says why this node stopped its own scrub (window closed, cancelled): md then goes
	// idle, and the end is a pause or a cancel, not a finish.
	stopping string
	saved    time.Time // last checkpoint
}

// scrubKey is the record's key in the cluster state.
func (r *Reconciler) scrubKey(uuid string) string {
	return path.Join(r.d.Prefix, "state", "scrubs", uuid)
}

// scrubRefresh is how often a record is re-read when this node does not run the scrub (another
// node may have started, checkpointed or finished it).
const scrubRefresh = 10 * time.Second

// loadScrub reads the array's record unless a fresh copy is at hand.
func (r *Reconciler) loadScrub(ctx context.Context, s *session, st *arrayState) error {
	if !st.scrub.read.IsZero() && time.Since(st.scrub.read) < scrubRefresh {
		return nil
	}
	ss, ok := s.Session.(dlm.StoreSession)
	if !ok {
		return errNoEventLog
	}
	key := r.scrubKey(st.cfg.UUID)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	kvs, _, err := ss.Store().Get(cctx, key, 0)
	cancel()
	if err != nil {
		return fmt.Errorf("read scrub record: %w", err)
	}
	st.scrub.rec, st.scrub.rev = scrubRecord{}, 0
	for _, kv := range kvs {
		if kv.Key == key {
			if err := json.Unmarshal(kv.Value, &st.scrub.rec); err != nil {
				return fmt.Errorf("scrub record %s: %w", key, err)
			}
			st.scrub.rev = kv.ModRevision
		}
	}
	st.scrub.read = time.Now()
	return nil
}

// saveScrub writes rec as the array's record if nobody changed it since this node read it.
func (r *Reconciler) saveScrub(ctx context.Context, s *session, st *arrayState, rec scrubRecord) error {
	lg := sessionLog(s)
	if lg == nil {
		return errNoEventLog
	}
	rec.Updated = time.Now()
	b, _ := json.Marshal(rec)
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	rev, err := lg.CompareAndSwap(cctx, r.scrubKey(st.cfg.UUID), b, st.scrub.rev)
	cancel()
	if errors.Is(err, dlm.ErrConflict) {
		st.scrub.read = time.Time{} // read it again before the next decision
	}
	if err != nil {
		return fmt.Errorf("save scrub record: %w", err)
	}
	st.scrub.rec, st.scrub.rev, st.scrub.read = rec, rev, time.Now()
	return nil
}

// scrubs reads every array's scrub record for the status.
func (a *Agent) scrubs(ctx context.Context, store dlm.Store) []api.ScrubStatus {
	if store == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	kvs, _, err := store.Get(cctx, a.key("scrubs")+"/", 0)
	cancel()
	if err != nil {
		a.log.Warn("read scrub records", "err", err)
		return nil
	}
	var out []api.ScrubStatus
	for _, kv := range kvs {
		var rec scrubRecord
		if json.Unmarshal(kv.Value, &rec) != nil {
			continue
		}
		uuid := path.Base(kv.Key)
		name := uuid
		if st := a.rec.array(uuid); st != nil {
			name = st.cfg.Name
		}
		out = append(out, api.ScrubStatus{Array: name, UUID: uuid, State: rec.State, Action: rec.Action, Node: rec.Node,
			Position: rec.Pos, Total: rec.Total, Mismatches: rec.Mismatches, Started: rec.Started, Finished: rec.Finished})
	}
	return out
}
