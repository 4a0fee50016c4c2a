package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"mdcluster.dev/mdcluster/api"
)

// Client is the part of the agent's API the shared delivery uses (api.Client).
type Client interface {
	HoldMonitor(ctx context.Context, r api.MonitorHoldRequest, fn func(api.MonitorGrant) error) error
	SaveCursor(ctx context.Context, r api.CursorRequest) (api.CursorReply, error)
}

// cursor is a shared array's delivery cursor: the array as the last delivery left it, the
// events decided but not all delivered yet, and how many events the array has had (their ids).
type cursor struct {
	State   *ArrayState `json:"state"`
	Pending []Event     `json:"pending,omitempty"`
	Seq     int64       `json:"seq"`
	Node    string      `json:"node"`
}

// Shared delivers the events of shared (md-cluster) arrays once across the cluster. Each shared
// array has a goroutine holding a request open for its delivery lease; while it is held, each
// look at the array is compared with the cursor's state, not with this node's own:
//
//  1. the events are computed and saved in the cursor as pending, with the new state — the
//     commit: nothing is delivered unless it is saved;
//  2. each is delivered, and the cursor saved without it.
//
// A node that dies between delivering an event and saving the cursor without it leaves that one
// event pending: the next holder delivers it again, with the same MDCLUSTER_EVENT_ID (the only
// repeat possible, and only in that window). The lease's fencing token guards every save.
type Shared struct {
	Client Client
	Node   string
	Owner  string // who holds the leases, for the agent's status ("mdcadm --monitor pid N")
	Alert  *Alerter
	Warn   io.Writer
	// Report, if set, logs a delivered event in the cluster's event log.
	Report func(ev Event, uuid, id string)
	// Resolve gives this node's device number for a component's name (the cursor may come
	// from another node, whose numbers differ); nil keeps them.
	Resolve func(name string) uint64

	mu    sync.Mutex
	ctx   context.Context
	holds map[string]*hold
	wake  chan struct{}
}

// hold is the delivery lease of one shared array as this monitor has it.
type hold struct {
	cancel  context.CancelFunc
	mu      sync.Mutex
	gen     int // bumped at every grant and loss
	granted bool
	token   uint64
	rev     int64
	cur     *cursor // nil: granted without a cursor yet (the cluster's first look)
	saved   []byte  // the cursor as last saved
}

// Start binds the shared delivery to ctx: the leases go back when it ends.
func (s *Shared) Start(ctx context.Context) {
	s.ctx, s.holds, s.wake = ctx, map[string]*hold{}, make(chan struct{}, 1)
}

// Woken is signalled when a lease is granted, so that the monitor looks at once.
func (s *Shared) Woken() <-chan struct{} { return s.wake }

// Forget stops holding (or waiting for) an array's lease.
func (s *Shared) Forget(uuid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.holds[uuid]; h != nil {
		h.cancel()
		delete(s.holds, uuid)
	}
}

// holdFor returns the array's hold, starting its request for the lease the first time.
func (s *Shared) holdFor(uuid string) *hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.holds[uuid]; h != nil {
		return h
	}
	ctx, cancel := context.WithCancel(s.ctx)
	h := &hold{cancel: cancel}
	s.holds[uuid] = h
	go s.keep(ctx, uuid, h)
	return h
}

// keep asks for the lease and holds it until ctx ends, asking again whenever it is lost.
func (s *Shared) keep(ctx context.Context, uuid string, h *hold) {
	req := api.MonitorHoldRequest{Array: uuid, Owner: s.Owner}
	for ctx.Err() == nil {
		err := s.Client.HoldMonitor(ctx, req, func(g api.MonitorGrant) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.gen++
			if g.Lost != "" {
				h.granted, h.cur = false, nil
				return nil
			}
			h.granted, h.token, h.rev, h.cur, h.saved = true, g.Token, g.Rev, nil, g.Cursor
			if len(g.Cursor) > 0 {
				var c cursor
				if json.Unmarshal(g.Cursor, &c) == nil && c.State != nil {
					c.State.normalize()
					h.cur = &c
				}
			}
			select {
			case s.wake <- struct{}{}:
			default:
			}
			return nil
		})
		h.mu.Lock()
		h.gen++
		h.granted, h.cur = false, nil
		h.mu.Unlock()
		if ctx.Err() == nil {
			fmt.Fprintf(s.Warn, "mdcadm: monitor lease of %s: %v; asking again\n", req.Array, orEnded(err))
			sleep(ctx, 2*time.Second)
		}
	}
}

func orEnded(err error) error {
	if err == nil {
		return errors.New("the agent ended the request")
	}
	return err
}

// Check looks at a shared array on behalf of the cluster, when this monitor holds its lease.
func (s *Shared) Check(ctx context.Context, e *entry, snap Snapshot, increments int) {
	h := s.holdFor(e.uuid)
	h.mu.Lock()
	if !h.granted {
		h.mu.Unlock()
		return
	}
	gen, token, rev, cur := h.gen, h.token, h.rev, h.cur
	h.mu.Unlock()
	if cur == nil {
		st := NewState(e.st.Dev)
		st.FromConfig, st.FromAuto, st.ExpectedSpares, st.SpareGroup = e.st.FromConfig, e.st.FromAuto, e.st.ExpectedSpares, e.st.SpareGroup
		if st.FromAuto {
			st.Err = 1 // as when --scan adds it: the first look says NewArray
		}
		cur = &cursor{State: st}
	}
	c := s.adopt(cur, e.st.Dev)
	d := delivery{s: s, h: h, gen: gen, token: token, rev: rev, uuid: e.uuid}
	if !d.flush(ctx, c) {
		return
	}
	evs, _ := c.State.Check(snap, e.test, increments)
	e.test = false
	c.Pending, c.Seq = evs, c.Seq+int64(len(evs)) // the events' ids follow the cursor's count
	if !d.save(ctx, c) {                          // the commit: nothing is delivered that is not saved
		return
	}
	d.flush(ctx, c)
}

// adopt makes a cursor this node's: its md device name, and the component numbers of this node
// when another node wrote it. It works on a copy.
func (s *Shared) adopt(cur *cursor, dev string) *cursor {
	b, _ := json.Marshal(cur)
	var c cursor
	_ = json.Unmarshal(b, &c)
	c.State.normalize()
	c.State.Dev = dev
	for i := range c.Pending {
		c.Pending[i].Dev = dev
	}
	if c.Node != "" && c.Node != s.Node && s.Resolve != nil {
		for i, name := range c.State.DevName {
			if _, ok := c.State.DevID[i]; ok && name != "" {
				c.State.DevID[i] = s.Resolve(name)
			}
		}
	}
	c.Node = s.Node
	return &c
}

// delivery saves and delivers one look's events under one grant of the lease.
type delivery struct {
	s     *Shared
	h     *hold
	gen   int
	token uint64
	rev   int64
	uuid  string
}

// flush delivers the cursor's pending events one by one, saving it after each; it reports
// whether all were delivered and saved.
func (d *delivery) flush(ctx context.Context, c *cursor) bool {
	for len(c.Pending) > 0 {
		ev := c.Pending[0]
		id := fmt.Sprintf("%s:%d", d.uuid, c.Seq-int64(len(c.Pending))+1)
		d.s.Alert.Send(ev, "MDCLUSTER_EVENT_ID="+id, "MDCLUSTER_SHARED=1")
		if d.s.Report != nil {
			d.s.Report(ev, d.uuid, id)
		}
		c.Pending = c.Pending[1:]
		if !d.save(ctx, c) {
			return false
		}
	}
	return true
}

// save writes the cursor under the lease (only if it changed) and keeps it as the hold's. A
// refusal means the lease or the cursor moved: this monitor stops delivering the array until it
// is granted again.
func (d *delivery) save(ctx context.Context, c *cursor) bool {
	b, _ := json.Marshal(c)
	d.h.mu.Lock()
	same := string(b) == string(d.h.saved) && d.h.gen == d.gen
	d.h.mu.Unlock()
	if same {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rep, err := d.s.Client.SaveCursor(cctx, api.CursorRequest{Array: d.uuid, Token: d.token, Rev: d.rev, Cursor: b})
	cancel()
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if err != nil {
		var re *api.RemoteError
		if errors.As(err, &re) && re.Code == 409 && d.h.gen == d.gen {
			d.h.gen++
			d.h.granted, d.h.cur = false, nil
		}
		fmt.Fprintf(d.s.Warn, "mdcadm: delivery cursor of %s not saved: %v\n", d.uuid, err)
		return false
	}
	d.rev = rep.Rev
	if d.h.gen == d.gen {
		d.h.rev, d.h.cur, d.h.saved = rep.Rev, c, b
	}
	return true
}
