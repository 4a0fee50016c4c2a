package agent

import (
	"sync"
	"sync/atomic"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// arrayState is what the agent keeps about one array between passes. The fields under "pass"
// belong to the pass running over this array (the queue runs one at a time per array) and are
// never touched by anyone else; view and intent are shared under mu, held only to copy them.
type arrayState struct {
	cfg config.Array
	// discovered: an md-cluster array of this cluster found running, not in the configuration.
	discovered bool

	// pass
	gen        uint64   // the session the locks below belong to
	act        dlm.Lock // activation lease, PW with our name in its value block
	sync, slot dlm.Lock // resync lease and a cluster-wide resync slot
	unfrozen   time.Time
	wanted     md.SyncAction // a check or repair held back, to start once the lease is held
	waiter     *waiter       // queued for the activation lease
	holder     string        // the node the activation lease was last seen with, if not us
	// roAfterAssembly: our assembly left the array read-only; it goes read-write once its
	// sync is held back.
	roAfterAssembly bool
	stale           []dlm.Lock // locks to give back whose Unlock failed: retried every pass
	// published is the resync record last written to the cluster state, in session publishedGen.
	published    *[]byte
	publishedGen uint64

	// actHeld mirrors act != nil for the fencer, which must know without waiting for a pass.
	actHeld atomic.Bool

	mu     sync.Mutex
	intent intent
	view   arrayView
}

// intent is what callers of the API asked for an array.
type intent struct {
	// standby: an operator released the activation lease (mdcadm --stop): stop the local copy,
	// give the lease back and do not take it again until asked (Acquire).
	standby bool
	// syncFor is set while a caller (mdcadm --add) holds the resync/recovery lease through us.
	syncFor string
}

// arrayView is an array as the status shows it, copied at the end of every pass.
type arrayView struct {
	obs      *md.Array
	holder   string // node holding the activation lease elsewhere ("" unknown or none)
	actHere  bool   // this node holds the activation lease
	actTok   dlm.Token
	syncHere bool
	resync   *api.Resync // this node's sync of the array, if any
	syncTok  dlm.Token
	problem  string
	observed time.Time
}

// waiter is a goroutine queued in the lock service for the activation lease.
type waiter struct {
	gen     uint64
	cancel  func()
	granted chan dlm.Lock // receives the lease once
	done    chan struct{} // closed when the goroutine ends
}

func (st *arrayState) setAct(l dlm.Lock) {
	st.act = l
	st.actHeld.Store(l != nil)
}

func (st *arrayState) getIntent() intent {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.intent
}

func (st *arrayState) setIntent(f func(*intent)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.intent)
}

func (st *arrayState) getView() arrayView {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.view
}

// publish copies the pass's outcome into the view.
func (st *arrayState) publish(obs *md.Array, problem string, rs *api.Resync) {
	v := arrayView{obs: obs, holder: st.holder, problem: problem, observed: time.Now(), resync: rs}
	if st.act != nil {
		v.actHere, v.actTok = true, st.act.Token()
	}
	if st.sync != nil {
		v.syncHere, v.syncTok = true, st.sync.Token()
	}
	st.mu.Lock()
	st.view = v
	st.mu.Unlock()
}

// forgetLocks drops the lock objects of a session that ended: the lock service released them
// with it. A waiter of that session ends with it too.
func (st *arrayState) forgetLocks() {
	st.setAct(nil)
	st.sync, st.slot, st.stale = nil, nil, nil
	st.cancelWaiter()
}

func (st *arrayState) cancelWaiter() {
	if st.waiter != nil {
		st.waiter.cancel()
		st.waiter = nil
	}
}

// takeGranted returns the activation lease the waiter got, if any.
func (st *arrayState) takeGranted() dlm.Lock {
	w := st.waiter
	if w == nil {
		return nil
	}
	select {
	case l := <-w.granted:
		st.waiter = nil
		return l
	default:
	}
	select {
	case <-w.done: // ended without a grant (session or agent ended, or cancelled)
		st.waiter = nil
	default:
	}
	return nil
}

// status renders the view for the API.
func (st *arrayState) status(node string) api.ArrayStatus {
	v := st.getView()
	as := api.ArrayStatus{UUID: st.cfg.UUID, Name: st.cfg.Name, Mode: st.cfg.Mode, Problem: v.problem}
	if o := v.obs; o != nil {
		as.Device, as.Level, as.State, as.SyncAction, as.Degraded = o.Name, o.Level, string(o.State), string(o.SyncAction), o.Degraded
	}
	switch {
	case v.actHere:
		as.ActiveOn = node
	case v.holder != "":
		as.ActiveOn = v.holder
	}
	return as
}
