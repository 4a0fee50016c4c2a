package kerneldlm

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"

	"mdcluster.dev/dlm"
)

// fakeDLM is a small in-memory stand-in for the kernel DLM behind the user
// device API, in the nltest style: it decodes the 120-byte requests,
// applies DLM queue rules (convert queue first, then FIFO, NOQUEUE gives
// -EAGAIN, basts to blocking holders) and queues 72/104-byte results.
type fakeDLM struct {
	mu       sync.Mutex
	res      map[string]*fakeRes
	lkbs     map[uint32]*fakeLkb
	next     uint32
	creates  int
	removes  int
	removeFn func() error // error to return from REMOVE (e.g. EBUSY)
}

type fakeRes struct {
	granted, converting, waiting []*fakeLkb
	lvb                          [32]byte
}

type fakeLkb struct {
	dev                  *fakeDev
	lkid                 uint32
	name                 string
	gr, rq               int // -1: none
	castParam, bastParam uint64
	castAddr, bastAddr   uint64
	lksb                 uint64
	valblk, basted       bool
}

func newFakeDLM() *fakeDLM {
	return &fakeDLM{res: map[string]*fakeRes{}, lkbs: map[uint32]*fakeLkb{}}
}

// opener for Engine: every lockspace open is a new fd on the same DLM.
func (d *fakeDLM) control() (device, error) { return &fakeControl{d: d}, nil }
func (d *fakeDLM) lockspace(string, int) (device, error) {
	return &fakeDev{d: d, q: make(chan []byte, 64), closed: make(chan struct{})}, nil
}

type fakeControl struct{ d *fakeDLM }

func (c *fakeControl) Write(b []byte) (int, error) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	switch b[12] {
	case cmdCreateLockspace:
		c.d.creates++
		return 121, nil
	case cmdRemoveLockspace:
		c.d.removes++
		if c.d.removeFn != nil {
			return 0, c.d.removeFn()
		}
		return 0, nil
	}
	return 0, syscall.EINVAL
}
func (c *fakeControl) Read([]byte) (int, error) { return 0, syscall.EINVAL }
func (c *fakeControl) Close() error             { return nil }

type fakeDev struct {
	d      *fakeDLM
	q      chan []byte
	once   sync.Once
	closed chan struct{}
	inject chan []byte // raw bytes to hand to the reader, for dispatch tests
}

func (f *fakeDev) Read(buf []byte) (int, error) {
	select {
	case b := <-f.q:
		return copy(buf, b), nil
	case b := <-f.inject:
		return copy(buf, b), nil
	case <-f.closed:
		return 0, os.ErrClosed
	}
}

// Close drops every lock of this fd, as the kernel does.
func (f *fakeDev) Close() error {
	f.once.Do(func() {
		close(f.closed)
		f.d.mu.Lock()
		defer f.d.mu.Unlock()
		for id, l := range f.d.lkbs {
			if l.dev == f {
				f.d.remove(l)
				delete(f.d.lkbs, id)
			}
		}
		for name := range f.d.res {
			f.d.grantPending(name)
		}
	})
	return nil
}

func (f *fakeDev) Write(b []byte) (int, error) {
	if len(b) < requestLen || b[13] != 1 || binary.LittleEndian.Uint32(b) != versionMajor {
		return 0, syscall.EINVAL
	}
	le := binary.LittleEndian
	mode := int(b[16])
	flags := le.Uint32(b[20:])
	lkid := le.Uint32(b[24:])
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	switch b[12] {
	case cmdLock:
		if flags&lkfConvert != 0 {
			l := d.lkbs[lkid]
			if l == nil || l.dev != f {
				return 0, syscall.ENOENT
			}
			r := d.res[l.name]
			down := mode != l.gr && dlm.Covers(dlm.Mode(l.gr), dlm.Mode(mode))
			if flags&lkfValBlk != 0 && down && dlm.Mode(l.gr).WritesLVB() {
				copy(r.lvb[:], b[88:120]) // written on down-conversion from PW/EX
			}
			l.rq, l.valblk = mode, flags&lkfValBlk != 0
			if d.compatGranted(r, l, mode) {
				d.grant(l)
				d.grantPending(l.name) // a down-conversion may unblock others
				return 0, nil
			}
			if flags&lkfNoQueue != 0 {
				l.rq = -1
				d.complete(l, statusAgain, false)
				return 0, nil
			}
			r.converting = append(r.converting, l)
			d.bastHolders(r, l, mode)
			return 0, nil
		}
		if b[17] == 0 || len(b) != requestLen+int(b[17]) || le.Uint64(b[56:]) == 0 || le.Uint64(b[80:]) == 0 {
			return 0, syscall.EINVAL
		}
		d.next++
		l := &fakeLkb{dev: f, lkid: d.next, name: string(b[120:]), gr: -1, rq: mode,
			castParam: le.Uint64(b[48:]), castAddr: le.Uint64(b[56:]), bastParam: le.Uint64(b[64:]),
			bastAddr: le.Uint64(b[72:]), lksb: le.Uint64(b[80:]), valblk: flags&lkfValBlk != 0}
		r := d.res[l.name]
		if r == nil {
			r = &fakeRes{}
			d.res[l.name] = r
		}
		d.lkbs[l.lkid] = l
		if len(r.converting) == 0 && len(r.waiting) == 0 && d.compatGranted(r, l, mode) {
			d.grant(l)
		} else if flags&lkfNoQueue != 0 {
			d.complete(l, statusAgain, false)
			delete(d.lkbs, l.lkid)
		} else {
			r.waiting = append(r.waiting, l)
			d.bastHolders(r, l, mode)
		}
		return int(l.lkid), nil
	case cmdUnlock:
		l := d.lkbs[lkid]
		if l == nil || l.dev != f {
			return 0, syscall.ENOENT
		}
		r := d.res[l.name]
		if flags&lkfCancel != 0 {
			if l.rq < 0 {
				return 0, syscall.EBUSY
			}
			l.rq = -1
			r.converting = without(r.converting, l)
			r.waiting = without(r.waiting, l)
			if l.gr < 0 {
				delete(d.lkbs, l.lkid)
			}
			d.complete(l, statusCancel, false)
			d.grantPending(l.name)
			return 0, nil
		}
		if flags&lkfValBlk != 0 && (l.gr == int(dlm.PW) || l.gr == int(dlm.EX)) {
			copy(r.lvb[:], b[88:120])
		}
		d.remove(l)
		delete(d.lkbs, l.lkid)
		d.complete(l, statusUnlock, false)
		d.grantPending(l.name)
		return 0, nil
	}
	return 0, syscall.EINVAL
}

func without(s []*fakeLkb, l *fakeLkb) []*fakeLkb {
	var out []*fakeLkb
	for _, x := range s {
		if x != l {
			out = append(out, x)
		}
	}
	return out
}

func (d *fakeDLM) remove(l *fakeLkb) {
	r := d.res[l.name]
	r.granted, r.converting, r.waiting = without(r.granted, l), without(r.converting, l), without(r.waiting, l)
}

func (d *fakeDLM) compatGranted(r *fakeRes, l *fakeLkb, mode int) bool {
	for _, g := range r.granted {
		if g != l && !dlm.Compatible(dlm.Mode(g.gr), dlm.Mode(mode)) {
			return false
		}
	}
	return true
}

func (d *fakeDLM) grant(l *fakeLkb) {
	r := d.res[l.name]
	if l.gr < 0 {
		r.granted = append(r.granted, l)
	}
	l.gr, l.rq, l.basted = l.rq, -1, false
	d.complete(l, statusGranted, l.valblk && l.gr != int(dlm.NL))
}

func (d *fakeDLM) grantPending(name string) {
	r := d.res[name]
	for len(r.converting) > 0 && d.compatGranted(r, r.converting[0], r.converting[0].rq) {
		l := r.converting[0]
		r.converting = r.converting[1:]
		d.grant(l)
	}
	for len(r.converting) == 0 && len(r.waiting) > 0 && d.compatGranted(r, r.waiting[0], r.waiting[0].rq) {
		l := r.waiting[0]
		r.waiting = r.waiting[1:]
		d.grant(l)
	}
}

// bastHolders queues a blocking notice to each holder l's request waits
// for, once per holder until it is granted again (the kernel coalesces).
func (d *fakeDLM) bastHolders(r *fakeRes, l *fakeLkb, mode int) {
	for _, g := range r.granted {
		if g != l && !dlm.Compatible(dlm.Mode(g.gr), dlm.Mode(mode)) && g.bastAddr != 0 && !g.basted {
			g.basted = true
			b := result(g.bastAddr, g.bastParam, g.lksb, 0, g.lkid, mode, nil)
			g.dev.send(b)
		}
	}
}

func (d *fakeDLM) complete(l *fakeLkb, status int32, withLVB bool) {
	var lvb []byte
	if withLVB {
		lvb = d.res[l.name].lvb[:]
	}
	l.dev.send(result(l.castAddr, l.castParam, l.lksb, status, l.lkid, 0, lvb))
}

func (f *fakeDev) send(b []byte) {
	select {
	case <-f.closed:
	case f.q <- b:
	}
}

// result encodes a struct dlm_lock_result (plus LVB) as the kernel does.
func result(astAddr, astParam, lksb uint64, status int32, lkid uint32, bastMode int, lvb []byte) []byte {
	n := resultLen
	if lvb != nil {
		n = resultLVBLen
	}
	b := make([]byte, n)
	le := binary.LittleEndian
	le.PutUint32(b[0:], versionMajor)
	le.PutUint32(b[8:], versionPatch)
	le.PutUint32(b[12:], uint32(n))
	le.PutUint64(b[16:], astAddr)
	le.PutUint64(b[24:], astParam)
	le.PutUint64(b[32:], lksb)
	le.PutUint32(b[40:], uint32(status))
	le.PutUint32(b[44:], lkid)
	b[64] = byte(bastMode)
	if lvb != nil {
		le.PutUint32(b[68:], resultLen)
		copy(b[resultLen:], lvb)
	}
	return b
}

var errFake = errors.New("fake failure")
