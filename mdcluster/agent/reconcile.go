package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// opTimeout bounds one lock-engine call inside a pass.
const opTimeout = 5 * time.Second

// Resource names in the lock engine, per array UUID.
func actResource(uuid string) string  { return "act/" + uuid }
func syncResource(uuid string) string { return "sync/" + uuid }
func slotResource(i int) string       { return fmt.Sprintf("resync-slot/%d", i) }

// memberInfo is what a node publishes about itself, bound to its session.
type memberInfo struct {
	Name    string `json:"name"`
	ID      int    `json:"id"`
	Address string `json:"address,omitempty"`
}

// register publishes this node as a cluster member under the session's lease.
func (a *Agent) register(ctx context.Context, sess dlm.Session) error {
	ls, ok := sess.(interface{ Lease() clientv3.LeaseID })
	if !ok || a.locks.kv == nil {
		return nil
	}
	b, _ := json.Marshal(memberInfo{Name: a.cfg.Node.Name, ID: a.cfg.Node.ID, Address: a.cfg.Node.Address})
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := a.locks.kv.Put(ctx, a.key("members", a.cfg.Node.Name), string(b), clientv3.WithLease(ls.Lease()))
	if err != nil {
		return fmt.Errorf("register member %s: %w", a.cfg.Node.Name, err)
	}
	return nil
}

func (a *Agent) key(parts ...string) string {
	return path.Join(append([]string{a.cfg.LockEngine.Prefix, "state"}, parts...)...)
}

// reconcileAll runs one pass over every managed array.
func (a *Agent) reconcileAll(ctx context.Context) {
	arrays, err := a.fs.Arrays()
	if err != nil {
		a.log.Error("read md arrays", "err", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for uuid, st := range a.arrays {
		a.counter.Reconciles++
		obs := findArray(arrays, uuid)
		if err := a.reconcile(ctx, st, obs); err != nil {
			a.counter.ReconcileErrors++
			st.problem = err.Error()
			a.log.Error("reconcile", "array", st.cfg.Name, "err", err)
		} else {
			st.problem = ""
		}
	}
	a.publishResyncs(ctx)
}

// findArray returns the local md array with the given mdadm-form UUID, or nil.
func findArray(arrays []md.Array, uuid string) *md.Array {
	want, err := md.ParseUUID(uuid)
	if err != nil {
		return nil
	}
	for i := range arrays {
		if arrays[i].UUID == want && arrays[i].Level != "" {
			return &arrays[i]
		}
	}
	return nil
}

// reconcile drives one array from what md and the lock engine say now.
func (a *Agent) reconcile(ctx context.Context, st *arrayState, obs *md.Array) error {
	st.last = obs
	st.mdName = ""
	if obs != nil {
		st.mdName = obs.Name
	}
	if a.sess == nil {
		return errors.New("no session")
	}
	if st.cfg.Mode == config.ModeExclusive {
		if err := a.reconcileActivation(ctx, st, obs); err != nil {
			return err
		}
		if st.mdName == "" {
			return nil
		}
		if obs == nil { // just assembled
			arrays, err := a.fs.Arrays()
			if err != nil {
				return err
			}
			obs = findArray(arrays, st.cfg.UUID)
			st.last = obs
			if obs == nil {
				return nil
			}
		}
	}
	if obs == nil {
		return nil
	}
	return a.reconcileSync(ctx, st, obs)
}

// reconcileActivation makes sure an exclusive array runs here only while this node holds its
// activation lease, and that this node assembles it when nobody else holds it.
func (a *Agent) reconcileActivation(ctx context.Context, st *arrayState, obs *md.Array) error {
	res := actResource(st.cfg.UUID)
	if st.standby {
		// Released on request (mdcadm --stop): stop the local copy, give the lease back, and do
		// not take it again until asked to (mdcadm --assemble).
		if obs != nil {
			if err := a.fs.Stop(obs.Name); err != nil {
				return fmt.Errorf("stop %s on request: %w", obs.Name, err)
			}
			st.mdName = ""
			a.count("stop_requested")
		}
		a.standDown(st)
		return nil
	}
	if st.act != nil {
		if err := a.check(ctx, res, st.act.Token()); err != nil {
			st.act = nil
			return a.stopUnleased(st, obs, fmt.Sprintf("activation lease lost (%v)", err))
		}
		if obs == nil {
			return a.assemble(ctx, st)
		}
		return nil
	}
	var l dlm.Lock
	var err error
	if st.granted != nil {
		l, st.granted = st.granted, nil
	} else {
		l, err = a.tryLock(ctx, res, dlm.EX)
	}
	if errors.Is(err, dlm.ErrWouldBlock) {
		holder := st.holder
		if !st.waiting || holder == "" {
			holder = a.readHolder(ctx, res)
			st.holder = holder
		}
		if !st.waiting && holder != a.cfg.Node.Name && obs == nil {
			a.queueActivation(st, res)
		}
		if holder == a.cfg.Node.Name {
			// Our own previous session (this agent restarted within the TTL): keep the array
			// running and wait for the old lease to expire, then take it over.
			return fmt.Errorf("activation lease still held by this node's previous session; waiting for it to expire")
		}
		if obs != nil {
			return a.stopUnleased(st, obs, "array is active on "+holder)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("take activation lease: %w", err)
	}
	// Publish our name in the value block: EX→PW writes it, and PW still excludes every other
	// PW/EX holder while letting a CR reader see who holds the array.
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	err = l.Convert(cctx, dlm.PW, dlm.WithLVB([]byte(a.cfg.Node.Name)))
	cancel()
	if err != nil {
		release(l)
		return fmt.Errorf("publish activation holder: %w", err)
	}
	st.act, st.holder = l, ""
	a.count("activation_acquired")
	a.log.Info("activation lease acquired", "array", st.cfg.Name, "token", l.Token())
	if obs == nil {
		return a.assemble(ctx, st)
	}
	return nil
}

// standDown gives the activation lease back once md no longer runs the array here.
func (a *Agent) standDown(st *arrayState) {
	if st.act == nil {
		return
	}
	release(st.act)
	st.act = nil
	a.count("activation_released")
	a.log.Info("activation lease released after a clean stop; standing by", "array", st.cfg.Name)
}

// queueActivation waits in the lock queue for the activation lease (the engine grants it the
// moment the holder releases it or its session expires) and wakes the loop when granted.
func (a *Agent) queueActivation(st *arrayState, res string) {
	sess := a.sess
	st.waiting = true
	go func() {
		l, err := sess.Lock(sess.Ctx(), res, dlm.EX)
		a.mu.Lock()
		st.waiting = false
		if err == nil {
			if a.sess == sess {
				st.granted = l
			} else {
				release(l)
			}
		}
		a.mu.Unlock()
		if err == nil {
			a.log.Info("activation lease granted after waiting", "array", st.cfg.Name, "token", l.Token())
			a.Kick()
		}
	}()
}

// readHolder returns the node named in a resource's value block, read with a CR lock.
func (a *Agent) readHolder(ctx context.Context, res string) string {
	l, err := a.tryLock(ctx, res, dlm.CR)
	if err != nil {
		return "(another node)"
	}
	defer release(l)
	if name := strings.TrimRight(string(l.LVB()), "\x00"); name != "" {
		return name
	}
	return "(another node)"
}

// stopUnleased stops an exclusive array that runs here without the lease: another node may be
// using it, and two active copies corrupt it.
func (a *Agent) stopUnleased(st *arrayState, obs *md.Array, why string) error {
	if obs == nil {
		return nil
	}
	a.log.Error("stopping exclusive array that runs here without its lease", "array", st.cfg.Name, "md", obs.Name, "why", why)
	a.count("stop_unleased")
	if err := a.fs.Stop(obs.Name); err != nil {
		return fmt.Errorf("stop %s (%s): %w", obs.Name, why, err)
	}
	st.mdName = ""
	return fmt.Errorf("refused to keep %s running: %s", st.cfg.Name, why)
}

// assemble runs mdadm --assemble for an array whose activation lease this node holds, after
// re-checking the lease's fencing token, and freezes its sync at once.
func (a *Agent) assemble(ctx context.Context, st *arrayState) error {
	if err := a.check(ctx, actResource(st.cfg.UUID), st.act.Token()); err != nil {
		st.act = nil
		return fmt.Errorf("activation token %d is stale, not assembling: %w", st.act.Token(), err)
	}
	args := append([]string{"--assemble", "/dev/md/" + st.cfg.Name, "--uuid=" + st.cfg.UUID, "--run"}, st.cfg.Devices...)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, a.mdadm, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mdadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	a.count("assemble")
	a.log.Info("assembled", "array", st.cfg.Name, "token", st.act.Token())
	arrays, err := a.fs.Arrays()
	if err != nil {
		return err
	}
	if obs := findArray(arrays, st.cfg.UUID); obs != nil {
		st.mdName = obs.Name
		if err := a.freeze(st, obs); err != nil {
			return err
		}
		// start_ro made it read-auto; with its sync frozen it can go read-write now, so a
		// resync it needs runs when the lease allows, not at the first write.
		if obs.State == md.ArrayReadAuto {
			if err := a.fs.SetArrayState(obs.Name, md.ArrayActive); err != nil {
				return fmt.Errorf("switch %s to read-write: %w", obs.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("mdadm assembled %s but md shows no array with UUID %s", st.cfg.Name, st.cfg.UUID)
}

func (a *Agent) tryLock(ctx context.Context, res string, mode dlm.Mode) (dlm.Lock, error) {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return a.sess.TryLock(cctx, res, mode)
}

// check re-checks a fencing token just before an action on md. The kernel DLM engine has no
// tokens (ErrNotSupported): there the cluster stack's fencing (STONITH) is what keeps a stale
// holder from acting, so the check passes.
func (a *Agent) check(ctx context.Context, res string, tok dlm.Token) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := a.sess.CheckToken(cctx, res, tok)
	if errors.Is(err, dlm.ErrNotSupported) {
		return nil
	}
	return err
}

// release unlocks l with its own short deadline: a release must happen even when the pass's
// context has ended.
func release(l dlm.Lock, opts ...dlm.LockOption) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_ = l.Unlock(ctx, opts...)
}
