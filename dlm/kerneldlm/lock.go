package kerneldlm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"syscall"

	"mdcluster.dev/dlm"
)

// Lock is a kernel DLM lock (an lkb). Its methods must not be called
// concurrently with each other.
type Lock struct {
	s    *Session
	res  string
	h    uint64 // handle: castparam, bastparam and lksb
	comp chan lockResult
	bast func(dlm.Mode)

	mu   sync.Mutex
	lkid uint32
	mode dlm.Mode
	lvb  []byte
	held bool
}

var _ dlm.Lock = (*Lock)(nil)

// Resource is the name the lock was taken on.
func (l *Lock) Resource() string { return l.res }

// Mode is the mode currently granted.
func (l *Lock) Mode() dlm.Mode { l.mu.Lock(); defer l.mu.Unlock(); return l.mode }

// Token is always 0: the kernel engine has no fencing tokens.
func (l *Lock) Token() dlm.Token { return 0 }

// LVB is the value block read with the last grant (nil if the kernel
// marked it not valid, e.g. after its PW/EX writer died).
func (l *Lock) LVB() []byte { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.lvb) }

// Lock waits until resource is granted in mode. On a cancel of ctx the
// request is cancelled in the kernel (DLM_LKF_CANCEL); if it was granted
// meanwhile it is unlocked again.
func (s *Session) Lock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	l, err := s.lock(ctx, resource, mode, opts...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// TryLock is Lock with DLM_LKF_NOQUEUE: dlm.ErrWouldBlock (the kernel's
// -EAGAIN status) when not grantable at once.
func (s *Session) TryLock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (dlm.Lock, error) {
	return s.Lock(ctx, resource, mode, append(opts, dlm.NoQueue())...)
}

func (s *Session) lock(ctx context.Context, resource string, mode dlm.Mode, opts ...dlm.LockOption) (*Lock, error) {
	if err := dlm.CheckRequest(resource, mode); err != nil {
		return nil, err
	}
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return nil, err
	}
	if err := s.alive("lock", resource); err != nil {
		return nil, err
	}
	l := &Lock{s: s, res: resource, comp: make(chan lockResult, 4), bast: o.Blocking}
	s.register(l)
	req := l.request(cmdLock, mode, lkfValBlk, nil)
	if o.NoQueue {
		req.flags |= lkfNoQueue
	}
	lkid, err := l.write(req)
	if err != nil {
		s.unregister(l)
		return nil, fmt.Errorf("kerneldlm: lock %q %v: %w", resource, mode, err)
	}
	l.lkid = uint32(lkid)
	r, err := l.await(ctx, "lock")
	if err != nil {
		return nil, errors.Join(err, l.abandon())
	}
	if err := statusErr(r.status); err != nil {
		s.unregister(l) // the kernel freed the lkb
		return nil, fmt.Errorf("kerneldlm: lock %q %v: %w", resource, mode, err)
	}
	l.granted(mode, r)
	return l, nil
}

// request builds a request for this lock.
func (l *Lock) request(cmd byte, mode dlm.Mode, flags uint32, lvb []byte) *lockRequest {
	req := &lockRequest{cmd: cmd, mode: mode, flags: flags, lkid: l.lkid, castParam: l.h, castAddr: castAddr,
		bastParam: l.h, lksb: l.h, name: l.res}
	if l.bast != nil {
		req.bastAddr = bastAddr // zero would mean no basts are ever queued
	}
	copy(req.lvb[:], lvb)
	return req
}

func (l *Lock) write(req *lockRequest) (int, error) {
	b, err := req.MarshalBinary()
	if err != nil {
		return 0, err
	}
	return l.s.dev.Write(b)
}

// await waits for the completion of the request in flight.
func (l *Lock) await(ctx context.Context, op string) (lockResult, error) {
	select {
	case r := <-l.comp:
		return r, nil
	case <-ctx.Done():
		return lockResult{}, fmt.Errorf("kerneldlm: %s %q: %w", op, l.res, ctx.Err())
	case <-l.s.done:
		return lockResult{}, l.s.alive(op, l.res)
	}
}

// abandon cancels a waiting request after its caller gave up. If it was
// granted in the meantime (the kernel then refuses the cancel with EBUSY,
// and the grant completion is on its way) it is unlocked.
func (l *Lock) abandon() error {
	select {
	case <-l.s.done:
		l.s.unregister(l)
		return nil
	default:
	}
	_, err := l.write(l.request(cmdUnlock, 0, lkfCancel, nil))
	if err != nil && !errors.Is(err, syscall.EBUSY) {
		l.s.unregister(l)
		return fmt.Errorf("kerneldlm: cancel %q: %w", l.res, err)
	}
	r, werr := l.await(context.Background(), "cancel")
	if werr != nil {
		return werr
	}
	if r.status == statusGranted {
		if _, err := l.write(l.request(cmdUnlock, 0, 0, nil)); err != nil {
			return fmt.Errorf("kerneldlm: unlock %q after cancel: %w", l.res, err)
		}
		_, werr = l.await(context.Background(), "unlock")
	}
	l.s.unregister(l)
	return werr
}

// granted records a grant and the LVB that came with it.
func (l *Lock) granted(mode dlm.Mode, r lockResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode, l.held = mode, true
	switch {
	case r.sbFlags&sbfValNotValid != 0:
		l.lvb = nil
	case r.lvb != nil:
		l.lvb = trimLVB(r.lvb)
	}
}

// trimLVB drops trailing zero bytes: the kernel's LVB is always 32 bytes,
// and callers wrote at most that many; an all-zero block reads as nil.
func trimLVB(b []byte) []byte {
	i := len(b)
	for i > 0 && b[i-1] == 0 {
		i--
	}
	if i == 0 {
		return nil
	}
	return slices.Clone(b[:i])
}

// Convert changes the mode with DLM_LKF_CONVERT. VALBLK is always set: the
// kernel writes the block on a down-conversion from PW/EX (WithLVB's value,
// else the one we read, so it is unchanged) and returns it on a grant.
func (l *Lock) Convert(ctx context.Context, mode dlm.Mode, opts ...dlm.LockOption) error {
	if err := dlm.CheckRequest(l.res, mode); err != nil {
		return err
	}
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return err
	}
	if err := l.s.alive("convert", l.res); err != nil {
		return err
	}
	l.mu.Lock()
	cur, held, lvb := l.mode, l.held, l.lvb
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("kerneldlm: convert %q: %w", l.res, dlm.ErrNotHeld)
	}
	if o.LVB != nil && cur.WritesLVB() {
		lvb = o.LVB
	}
	req := l.request(cmdLock, mode, lkfConvert|lkfValBlk, lvb)
	if o.NoQueue {
		req.flags |= lkfNoQueue
	}
	if _, err := l.write(req); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			err = fmt.Errorf("%w (%w)", dlm.ErrNotHeld, err)
		}
		return fmt.Errorf("kerneldlm: convert %q %v to %v: %w", l.res, cur, mode, err)
	}
	r, err := l.await(ctx, "convert")
	if err != nil {
		// Cancel the conversion: the lock goes back to its old mode, or
		// the conversion completes first and we keep it.
		if _, cerr := l.write(l.request(cmdUnlock, 0, lkfCancel, nil)); cerr != nil && !errors.Is(cerr, syscall.EBUSY) {
			return errors.Join(err, fmt.Errorf("kerneldlm: cancel convert %q: %w", l.res, cerr))
		}
		r, werr := l.await(context.Background(), "cancel convert")
		if werr != nil {
			return werr
		}
		if r.status != statusGranted {
			return err
		}
		l.granted(mode, r)
		return nil
	}
	if err := statusErr(r.status); err != nil {
		return fmt.Errorf("kerneldlm: convert %q %v to %v: %w", l.res, cur, mode, err)
	}
	if o.LVB != nil && cur.WritesLVB() {
		l.mu.Lock()
		l.lvb = trimLVB(lvb)
		l.mu.Unlock()
	}
	l.granted(mode, r)
	return nil
}

// Unlock releases the lock; from PW or EX the LVB is written (WithLVB's
// value, else the one read, unchanged).
func (l *Lock) Unlock(ctx context.Context, opts ...dlm.LockOption) error {
	o, err := dlm.ApplyLockOptions(opts...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	cur, held, lvb := l.mode, l.held, l.lvb
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("kerneldlm: unlock %q: %w", l.res, dlm.ErrNotHeld)
	}
	if err := l.s.alive("unlock", l.res); err != nil {
		return err
	}
	var flags uint32
	if cur.WritesLVB() {
		flags = lkfValBlk
		if o.LVB != nil {
			lvb = o.LVB
		}
	}
	if _, err := l.write(l.request(cmdUnlock, 0, flags, lvb)); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			err = fmt.Errorf("%w (%w)", dlm.ErrNotHeld, err)
		}
		return fmt.Errorf("kerneldlm: unlock %q: %w", l.res, err)
	}
	r, err := l.await(ctx, "unlock")
	if err != nil {
		return err // the unlock is queued in the kernel and will complete
	}
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	l.s.unregister(l)
	if r.status != statusUnlock {
		return fmt.Errorf("kerneldlm: unlock %q: %w", l.res, statusErr(r.status))
	}
	return nil
}
