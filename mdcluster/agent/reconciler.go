package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// opTimeout bounds one lock-engine call inside a pass.
const opTimeout = 5 * time.Second

// assembleTimeout bounds mdadm --assemble.
const assembleTimeout = 2 * time.Minute

// Resource names in the lock engine, per array UUID.
func actResource(uuid string) string  { return "act/" + uuid }
func syncResource(uuid string) string { return "sync/" + uuid }
func slotResource(i int) string       { return fmt.Sprintf("resync-slot/%d", i) }

// Result tells the queue when to look at an array again without an event.
type Result struct {
	RequeueAfter time.Duration
}

// terminalError is an error a retry cannot cure (a configuration the agent refuses): the array
// is looked at again on the next event or periodic pass, not with a backoff.
type terminalError struct{ error }

func (e terminalError) Unwrap() error { return e.error }

// Deps is everything a Reconciler touches, injected so that the decisions can be tested over
// captured sysfs trees and an in-memory lock engine.
type Deps struct {
	Node   config.Node
	Resync config.Resync
	// Prefix is the lock engine's key prefix (lock_engine.prefix): cluster state lives below.
	Prefix string
	MD     MD
	Mdadm  Mdadm
	Paths  Paths
	Log    *slog.Logger
	// Sessions gives the current session (nil while there is none).
	Sessions func() *session
	// Fencing returns "" when exclusive arrays may run here (self-fencing armed), or why not.
	Fencing func() string
	// Kick asks for a pass over one array soon (a waiter got its lease).
	Kick func(uuid string)
}

// Reconciler makes md and the locks agree with the configuration, one array per pass. A pass
// derives everything from what md and the lock engine say now, never from the event that
// caused it, so a restart converges without repeating a destructive step. A pass never holds a
// mutex across mdadm, an md write or a lock call; a failed read means no action in that pass.
type Reconciler struct {
	d Deps
	// runCtx bounds goroutines that outlive a pass (waiters for a lease).
	runCtx context.Context

	mu      sync.Mutex
	arrays  map[string]*arrayState // by UUID (mdadm form)
	counter api.Counters
}

// NewReconciler returns a reconciler for the configured arrays.
func NewReconciler(runCtx context.Context, d Deps, arrays []config.Array) *Reconciler {
	r := &Reconciler{d: d, runCtx: runCtx, arrays: map[string]*arrayState{}, counter: api.Counters{Actions: map[string]uint64{}}}
	for _, a := range arrays {
		r.arrays[a.UUID] = &arrayState{cfg: a}
	}
	return r
}

// Reconcile runs one pass over the array with this UUID.
func (r *Reconciler) Reconcile(ctx context.Context, uuid string) (Result, error) {
	st := r.array(uuid)
	if st == nil {
		return Result{}, nil
	}
	r.countPass()
	obs, err := r.observe(uuid)
	if err != nil {
		err = fmt.Errorf("read md: %w", err)
		v := st.getView()
		st.publish(v.obs, err.Error(), v.resync)
		return Result{}, err
	}
	s := r.d.Sessions()
	if s == nil {
		if st.gen != 0 {
			st.forgetLocks()
			st.gen = 0
		}
		st.publish(obs, errNoSession.Error(), r.localResync(st, obs))
		return Result{RequeueAfter: time.Second}, nil
	}
	if st.gen != s.gen {
		st.forgetLocks()
		st.gen = s.gen
		r.takeAdopted(s, st)
	}
	sctx, cancel := s.ctx(ctx)
	defer cancel()
	var res Result
	if st.cfg.Mode == config.ModeExclusive {
		obs, res, err = r.exclusive(sctx, s, st, obs)
	} else {
		res, err = r.clustered(sctx, s, st, obs)
	}
	problem := ""
	if err != nil {
		problem = err.Error()
		r.countError()
	}
	if s.valid() {
		r.publishResync(sctx, s, st, obs)
	}
	st.publish(obs, problem, r.localResync(st, obs))
	return res, err
}

// takeAdopted gives a new pass the locks the previous process held on this array.
func (r *Reconciler) takeAdopted(s *session, st *arrayState) {
	if l := s.takeAdopted(actResource(st.cfg.UUID)); l != nil {
		st.setAct(l)
	}
	if l := s.takeAdopted(syncResource(st.cfg.UUID)); l != nil {
		st.sync = l
		for i := 0; i < r.d.Resync.MaxConcurrent && st.slot == nil; i++ {
			st.slot = s.takeAdopted(slotResource(i))
		}
		st.unfrozen = time.Now()
	}
}

// observe reads md and returns the running array with this UUID, or nil.
func (r *Reconciler) observe(uuid string) (*md.Array, error) {
	arrays, err := r.d.MD.Arrays()
	if err != nil {
		return nil, err
	}
	return findArray(arrays, uuid), nil
}

// findArray returns the running array with the given mdadm-form UUID, or nil.
func findArray(arrays []md.Array, uuid string) *md.Array {
	want, err := md.ParseUUID(uuid)
	if err != nil {
		return nil
	}
	for i := range arrays {
		if arrays[i].UUID == want && arrays[i].Level != "" && arrays[i].State != md.ArrayInactive && arrays[i].State != md.ArrayClear {
			return &arrays[i]
		}
	}
	return nil
}

// inactive returns an inactive (members bound, not started) array with the UUID, or nil: mdadm
// leaves one behind when an assembly fails half-way.
func inactive(arrays []md.Array, uuid string) *md.Array {
	want, err := md.ParseUUID(uuid)
	if err != nil {
		return nil
	}
	for i := range arrays {
		if arrays[i].UUID == want && arrays[i].State == md.ArrayInactive {
			return &arrays[i]
		}
	}
	return nil
}

func (r *Reconciler) array(uuid string) *arrayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrays[uuid]
}

// uuids lists the arrays the reconciler manages, sorted.
func (r *Reconciler) uuids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.arrays))
}

// states returns the managed arrays' states in UUID order.
func (r *Reconciler) states() []*arrayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*arrayState, 0, len(r.arrays))
	for _, k := range slices.Sorted(maps.Keys(r.arrays)) {
		out = append(out, r.arrays[k])
	}
	return out
}

// lookup finds a managed array by UUID or name.
func (r *Reconciler) lookup(array string) (*arrayState, error) {
	for _, st := range r.states() {
		if st.cfg.UUID == array || st.cfg.Name == array {
			return st, nil
		}
	}
	return nil, &api.BadRequest{Msg: fmt.Sprintf("array: %q is not managed by this agent", array)}
}

// addDiscovered starts managing an md-cluster array found running.
func (r *Reconciler) addDiscovered(a config.Array) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.arrays[a.UUID]; !ok {
		r.arrays[a.UUID] = &arrayState{cfg: a, discovered: true}
	}
}

// dropDiscovered stops managing discovered arrays that no longer run here (and hold no lease).
func (r *Reconciler) dropDiscovered(running map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u, st := range r.arrays {
		if st.discovered && !running[u] && st.getView().syncTok == 0 && !st.getView().syncHere {
			delete(r.arrays, u)
		}
	}
}

// exclusiveUUIDs lists the managed exclusive arrays.
func (r *Reconciler) exclusiveUUIDs() []string {
	var out []string
	for _, st := range r.states() {
		if st.cfg.Mode == config.ModeExclusive {
			out = append(out, st.cfg.UUID)
		}
	}
	return out
}

// resources lists every lock resource this node may hold, for adoption after a restart.
func (r *Reconciler) resources() []string {
	var out []string
	for _, u := range r.uuids() {
		out = append(out, actResource(u), syncResource(u))
	}
	for i := 0; i < r.d.Resync.MaxConcurrent; i++ {
		out = append(out, slotResource(i))
	}
	return out
}

func (r *Reconciler) count(action string) {
	r.mu.Lock()
	r.counter.Actions[action]++
	r.mu.Unlock()
}

func (r *Reconciler) countPass() {
	r.mu.Lock()
	r.counter.Reconciles++
	r.mu.Unlock()
}

func (r *Reconciler) countError() {
	r.mu.Lock()
	r.counter.ReconcileErrors++
	r.mu.Unlock()
}

// Counters returns a copy of the running totals.
func (r *Reconciler) Counters() api.Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counter
	c.Actions = maps.Clone(r.counter.Actions)
	return c
}

func (r *Reconciler) countNewDisk(confirmed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if confirmed {
		r.counter.NewDiskConfirmed++
	} else {
		r.counter.NewDiskNacked++
	}
}

// checkToken re-checks a fencing token just before an action on md. The kernel DLM engine has
// no tokens (ErrNotSupported): there the cluster stack's fencing keeps a stale holder from
// acting.
func checkToken(ctx context.Context, s *session, l dlm.Lock) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := s.CheckToken(cctx, l.Resource(), l.Token())
	if errors.Is(err, dlm.ErrNotSupported) {
		return nil
	}
	return err
}

// gone reports whether a lock-service error means the lock is definitely not held any more.
func gone(err error) bool {
	return errors.Is(err, dlm.ErrStaleToken) || errors.Is(err, dlm.ErrNotHeld) ||
		errors.Is(err, dlm.ErrSessionExpired) || errors.Is(err, dlm.ErrClosed)
}

// unlock gives a lock back. It reports an error only when the lock may still be held, so the
// caller keeps it and tries again: a lock forgotten while held would wedge its resource.
func unlock(l dlm.Lock) error {
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := l.Unlock(ctx); err != nil && !gone(err) {
		return fmt.Errorf("release %s: %w", l.Resource(), err)
	}
	return nil
}

// releaseStale retries the Unlock of locks whose release failed before.
func (r *Reconciler) releaseStale(st *arrayState) error {
	var keep []dlm.Lock
	var errs []error
	for _, l := range st.stale {
		if err := unlock(l); err != nil {
			keep, errs = append(keep, l), append(errs, err)
		}
	}
	st.stale = keep
	return errors.Join(errs...)
}

// giveBack releases l, or keeps it for a retry if the lock service did not answer.
func (r *Reconciler) giveBack(st *arrayState, l dlm.Lock) {
	if err := unlock(l); err != nil {
		r.d.Log.Warn("lock release failed; retrying every pass", "array", st.cfg.Name, "err", err)
		st.stale = append(st.stale, l)
	}
}
