package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/md"
)

// exclusive drives an exclusive array: it runs here only while this node holds its activation
// lease, and its sync only under the resync lease. It returns what md shows at the end.
func (r *Reconciler) exclusive(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, Result, error) {
	if why := r.d.Fencing(); why != "" {
		// No silent degraded mode: without self-fencing this node can never be a safe holder.
		st.cancelWaiter()
		obs, err := r.stopUnleased(st, obs, "this node cannot fence itself")
		return obs, Result{}, terminalError{errors.Join(fmt.Errorf("refusing exclusive array %s: self-fencing unavailable: %s", st.cfg.Name, why), err)}
	}
	if err := r.releaseStale(st); err != nil {
		return obs, Result{}, err
	}
	if st.getIntent().standby {
		obs, err := r.standDown(st, obs)
		return obs, Result{}, err
	}
	obs, err := r.activation(ctx, s, st, obs)
	if err != nil || st.act == nil || obs == nil {
		return obs, Result{}, err
	}
	res, err := r.syncExclusive(ctx, s, st, obs)
	return obs, res, err
}

// activation makes sure this node holds the activation lease before the array runs here, and
// assembles it once it does.
func (r *Reconciler) activation(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, error) {
	if st.act == nil {
		if l := st.takeGranted(); l != nil {
			st.setAct(l)
			r.count("activation_acquired")
			r.d.Log.Info("activation lease granted after waiting", "array", st.cfg.Name, "token", l.Token())
		}
	}
	if st.act == nil {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		l, err := s.TryLock(cctx, actResource(st.cfg.UUID), dlm.EX)
		cancel()
		switch {
		case err == nil:
			st.setAct(l)
			r.count("activation_acquired")
			r.d.Log.Info("activation lease acquired", "array", st.cfg.Name, "token", l.Token())
		case errors.Is(err, dlm.ErrWouldBlock):
			return r.heldElsewhere(ctx, s, st, obs)
		default:
			return obs, fmt.Errorf("take activation lease: %w", err)
		}
	} else if err := checkToken(ctx, s, st.act); err != nil {
		if !gone(err) {
			// The lock service did not answer: keep the lease and the array as they are. A real
			// loss shows as the session's fence point, where the fencer stops the array.
			return obs, fmt.Errorf("check activation lease: %w", err)
		}
		st.setAct(nil)
		return r.stopUnleased(st, obs, "its activation lease is no longer in force")
	}
	st.holder = ""
	if st.act.Mode() != dlm.PW {
		// Publish our name in the value block: EX→PW writes it, and PW still excludes every
		// other PW/EX holder while any reader can see who runs the array.
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := st.act.Convert(cctx, dlm.PW, dlm.WithLVB(holderLVB(r.d.Node.ID, r.d.Node.Name)))
		cancel()
		if gone(err) {
			st.setAct(nil)
			return r.stopUnleased(st, obs, "its activation lease is no longer in force")
		}
		if err != nil {
			return obs, fmt.Errorf("publish activation holder: %w", err) // kept in EX, retried
		}
	}
	if obs != nil {
		return obs, nil
	}
	return r.assemble(ctx, s, st)
}

// heldElsewhere handles an activation lease another session holds: the array must not run here,
// and this node queues for the lease unless an operator stood it down.
func (r *Reconciler) heldElsewhere(ctx context.Context, s *session, st *arrayState, obs *md.Array) (*md.Array, error) {
	holder, mine := r.holder(ctx, s, actResource(st.cfg.UUID))
	if mine {
		// Our own session holds it but no pass knows the lock (an adoption that did not
		// happen): adopt it now rather than stop our own array.
		if ad, ok := s.Session.(dlm.Adopter); ok {
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			l, err := ad.Adopt(cctx, actResource(st.cfg.UUID))
			cancel()
			if err != nil {
				return obs, fmt.Errorf("adopt this session's activation lease: %w", err)
			}
			st.setAct(l)
			return r.activation(ctx, s, st, obs)
		}
	}
	st.holder = holder
	if obs != nil {
		return r.stopUnleased(st, obs, "it is active on "+holder)
	}
	r.queueFor(s, st)
	return nil, nil
}

// holder names the node holding an activation lease, read without taking a lock (a reader
// lock would queue behind waiters and be refused). mine reports that this session holds it.
func (r *Reconciler) holder(ctx context.Context, s *session, res string) (name string, mine bool) {
	const unknown = "(another node)"
	insp, ok := s.Session.(dlm.Inspector)
	if !ok {
		return unknown, false
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	info, err := insp.Inspect(cctx, res)
	cancel()
	if err != nil {
		return unknown, false
	}
	for _, h := range info.Granted {
		if s.id != 0 && h.Session == s.id {
			return r.d.Node.Name, true
		}
	}
	if _, n, ok := parseHolderLVB(info.LVB); ok {
		return n, false
	}
	return unknown, false
}

// holderLVB is the activation lease's value block: node id and name (cut to the 32-byte LVB).
func holderLVB(id int, name string) []byte {
	b := []byte(strconv.Itoa(id) + " " + name)
	return b[:min(len(b), dlm.LVBLen)]
}

func parseHolderLVB(b []byte) (int, string, bool) {
	s := strings.TrimRight(string(b), "\x00")
	idStr, name, ok := strings.Cut(s, " ")
	id, err := strconv.Atoi(idStr)
	if !ok || err != nil || name == "" {
		return 0, "", false
	}
	return id, name, true
}

// queueFor starts a goroutine that waits in the lock queue for the activation lease (granted
// the moment the holder releases it or its session expires) and asks for a pass when it has it.
func (r *Reconciler) queueFor(s *session, st *arrayState) {
	if st.waiter != nil {
		return
	}
	ctx, cancel := s.ctx(r.runCtx)
	w := &waiter{gen: s.gen, cancel: cancel, granted: make(chan dlm.Lock, 1), done: make(chan struct{})}
	st.waiter = w
	uuid, name := st.cfg.UUID, st.cfg.Name
	go func() {
		defer close(w.done)
		defer cancel()
		l, err := s.Lock(ctx, actResource(uuid), dlm.EX)
		if err != nil {
			if ctx.Err() == nil {
				r.d.Log.Warn("waiting for the activation lease failed", "array", name, "err", err)
			}
			r.d.Kick(uuid)
			return
		}
		w.granted <- l
		r.d.Kick(uuid)
	}()
}

// stopUnleased stops an exclusive array that runs here without the lease: another node may be
// using it, and two active copies corrupt it.
func (r *Reconciler) stopUnleased(st *arrayState, obs *md.Array, why string) (*md.Array, error) {
	if obs == nil {
		return nil, nil
	}
	r.d.Log.Error("stopping exclusive array that runs here without its activation lease", "array", st.cfg.Name, "md", obs.Name, "why", why)
	if err := r.d.MD.Stop(obs.Name); err != nil {
		return obs, fmt.Errorf("%s runs here without its activation lease (%s) and cannot be stopped: %w", st.cfg.Name, why, err)
	}
	r.count("stop_unleased")
	return nil, fmt.Errorf("stopped %s: it ran here without its activation lease (%s)", st.cfg.Name, why)
}

// standDown stops the local copy on request, then gives the activation lease back so that a
// waiting node takes the array over. A copy that cannot be stopped keeps the lease.
func (r *Reconciler) standDown(st *arrayState, obs *md.Array) (*md.Array, error) {
	st.cancelWaiter()
	if obs != nil {
		if err := r.d.MD.Stop(obs.Name); err != nil {
			return obs, fmt.Errorf("stop %s on request (the activation lease stays here): %w", obs.Name, err)
		}
		r.count("stop_requested")
		r.d.Log.Info("array stopped on request", "array", st.cfg.Name, "md", obs.Name)
	}
	r.releaseSyncLocks(st)
	if st.act != nil {
		r.giveBack(st, st.act)
		st.setAct(nil)
		r.count("activation_released")
		r.d.Log.Info("activation lease released after a clean stop; standing by", "array", st.cfg.Name)
	}
	return nil, nil
}

// assemble runs mdadm --assemble for an array whose activation lease this node holds, right
// after re-checking the lease's fencing token. mdadm runs under the session's context: it is
// killed if the session is lost, and the fencer resets the node if the array ran by then.
// The array starts read-only, so that md cannot begin a sync before its sync is held back;
// then it goes read-write.
func (r *Reconciler) assemble(ctx context.Context, s *session, st *arrayState) (*md.Array, error) {
	tok := st.act.Token()
	if err := checkToken(ctx, s, st.act); err != nil {
		if gone(err) {
			st.setAct(nil)
			return nil, fmt.Errorf("activation token %d is stale, not assembling: %w", tok, err)
		}
		return nil, fmt.Errorf("check activation lease before assembly: %w", err)
	}
	arrays, err := r.d.MD.Arrays()
	if err != nil {
		return nil, fmt.Errorf("read md before assembly: %w", err)
	}
	if in := inactive(arrays, st.cfg.UUID); in != nil {
		// A half-done assembly holds the members: clear it so mdadm can start over.
		if err := r.d.MD.Stop(in.Name); err != nil {
			return nil, fmt.Errorf("clear inactive %s before assembly: %w", in.Name, err)
		}
	}
	args := append([]string{"--assemble", "/dev/md/" + st.cfg.Name, "--uuid=" + st.cfg.UUID, "--readonly", "--run"}, st.cfg.Devices...)
	cctx, cancel := context.WithTimeout(ctx, assembleTimeout)
	_, err = r.d.Mdadm.Run(cctx, args...)
	cancel()
	if err != nil {
		return nil, err
	}
	r.count("assemble")
	st.roAfterAssembly = true
	r.d.Log.Info("assembled", "array", st.cfg.Name, "token", tok)
	obs, err := r.observe(st.cfg.UUID)
	if err != nil {
		return nil, fmt.Errorf("read md after assembly: %w", err)
	}
	if obs == nil {
		return nil, fmt.Errorf("mdadm assembled %s but md shows no running array with UUID %s", st.cfg.Name, st.cfg.UUID)
	}
	if !s.valid() {
		return obs, errNoSession
	}
	if err := r.freeze(st, obs); err != nil {
		return obs, err
	}
	if err := r.d.MD.SetArrayState(obs.Name, md.ArrayActive); err != nil {
		return obs, fmt.Errorf("switch %s to read-write: %w", obs.Name, err)
	}
	st.roAfterAssembly = false
	return r.observe(st.cfg.UUID)
}
