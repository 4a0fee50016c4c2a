package monitor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"mdcluster.dev/mdcluster/md"
)

// ConfArray is an ARRAY line of mdadm.conf as the monitor uses it.
type ConfArray struct {
	Dev        string // /dev/md/NAME or /dev/mdN
	Spares     int    // spares=N: fewer is SparesMissing (-1: not given)
	SpareGroup string
}

// Options are --monitor's, with mdadm.conf's defaults already applied.
type Options struct {
	Devices    []string // arrays named on the command line (none: --scan)
	Scan       bool
	Oneshot    bool
	Test       bool
	Delay      time.Duration
	Increments int
	Share      bool        // spare sharing (off with --oneshot and --no-sharing)
	Config     []ConfArray // mdadm.conf's ARRAY lines
}

// Monitor is one mdcadm --monitor.
type Monitor struct {
	Opt   Options
	Read  Reader
	Alert *Alerter
	// Shared delivers shared arrays' events once across the cluster; nil delivers every
	// array's events here, as mdadm does (no agent).
	Shared *Shared
	// Wait waits for an md event or d; nil polls /proc/mdstat.
	Wait func(ctx context.Context, d time.Duration)
	// Levels gives an array's level and whether it runs (add_new_arrays skips RAID0/linear).
	Level func(devnm string) (string, bool)
	// MoveSpare moves spare dev from array from to array to (nil: no spare sharing).
	MoveSpare func(from, to, dev string) bool
	// OneshotReports: with --oneshot, this node reports the shared arrays (the cluster member
	// with the lowest node id does, so that a daily reminder comes once).
	OneshotReports bool
	// Report, if set, logs a delivered event of a local array in the cluster's event log.
	Report func(ev Event, uuid string)
	Warn   io.Writer

	list []*entry
}

// entry is one array the monitor watches.
type entry struct {
	st     *ArrayState
	uuid   string
	shared bool // an md-cluster array: reported once for the cluster (when Shared is set)
	test   bool // a TestMessage is owed (for a shared array, once its delivery is held)
}

// isShared reports whether e's events go through the cluster's delivery.
func (m *Monitor) isShared(e *entry) bool { return m.Shared != nil && e.shared && e.uuid != "" }

// Run monitors until ctx ends, or after one look with Oneshot, or when no array is left to
// watch; it returns the exit code.
func (m *Monitor) Run(ctx context.Context) int {
	m.init()
	test := m.Opt.Test
	for ctx.Err() == nil {
		newFound, anyWatched := m.look(ctx, test)
		if !newFound {
			if m.Opt.Oneshot {
				break
			}
			if !anyWatched {
				fmt.Fprintln(m.Warn, "mdadm: No array with redundancy detected, stopping")
				break
			}
			m.wait(ctx)
		}
		test = false
		m.prune()
	}
	return 0
}

// look is one round: every watched array, then (with --scan) the new ones, then spare sharing.
// It reports whether it found new arrays, and whether any array is watched without error.
func (m *Monitor) look(ctx context.Context, test bool) (newFound, anyWatched bool) {
	mdstat := m.Read.Mdstat()
	used := map[string]bool{}
	anyDegraded := false
	for _, e := range m.list {
		if m.check(ctx, e, mdstat, used, test) {
			anyDegraded = true
		}
		anyWatched = anyWatched || e.st.Err == 0
	}
	newFound = m.Opt.Scan && m.addNew(mdstat, used, test)
	if m.Opt.Share && anyDegraded && m.MoveSpare != nil {
		m.migrate(ctx)
	}
	return newFound, anyWatched
}

// init builds the watch list: the arrays named, or with --scan mdadm.conf's ARRAY lines.
func (m *Monitor) init() {
	if m.Opt.Increments <= 0 {
		m.Opt.Increments = 20
	}
	spares := map[string]ConfArray{}
	for _, c := range m.Opt.Config {
		spares[c.Dev] = c
	}
	if len(m.Opt.Devices) == 0 {
		for _, c := range m.Opt.Config {
			st := NewState(c.Dev)
			st.FromConfig, st.ExpectedSpares, st.SpareGroup = true, c.Spares, c.SpareGroup
			m.list = append(m.list, &entry{st: st})
		}
		return
	}
	for _, d := range m.Opt.Devices {
		st := NewState(d)
		if c, ok := spares[d]; ok {
			st.ExpectedSpares, st.SpareGroup = c.Spares, c.SpareGroup
		}
		m.list = append(m.list, &entry{st: st})
	}
}

// check looks at one array and delivers its events; it reports whether the array is degraded
// without a spare.
func (m *Monitor) check(ctx context.Context, e *entry, mdstat []md.MdstatEntry, used map[string]bool, test bool) bool {
	s := m.Read.Look(e.st.Dev, mdstat)
	if s.Devnm != "" && s.InMdstat {
		if used[s.Devnm] {
			s.InMdstat = false // the same array listed twice: mdadm counts the second as an error
		}
		used[s.Devnm] = true
		if e.uuid == "" {
			e.uuid, e.shared = m.Read.UUID(s.Devnm), m.Read.Clustered(s.Devnm)
		}
	}
	if test {
		e.test = true
	}
	if m.isShared(e) && !m.Opt.Oneshot {
		// This node's own view still decides errors, pruning and spare sharing; its events go
		// nowhere: the holder of the array's delivery lease reports them for the cluster.
		_, degraded := e.st.Check(s, false, m.Opt.Increments)
		m.Shared.Check(ctx, e, s, m.Opt.Increments)
		return degraded
	}
	if m.isShared(e) && !m.OneshotReports {
		_, degraded := e.st.Check(s, false, m.Opt.Increments) // another node reports it
		return degraded
	}
	evs, degraded := e.st.Check(s, e.test, m.Opt.Increments)
	e.test = false
	for _, ev := range evs {
		m.send(ev, e.uuid)
	}
	return degraded
}

// addNew adds the arrays /proc/mdstat lists that are not watched yet (not RAID0 or linear), as
// --scan does; they are looked at again at once.
func (m *Monitor) addNew(mdstat []md.MdstatEntry, used map[string]bool, test bool) bool {
	found := false
	for _, mse := range mdstat {
		if used[mse.Devnm] {
			continue
		}
		level, ok := "", true
		if m.Level != nil {
			level, ok = m.Level(mse.Devnm)
		}
		if !ok || level == "raid0" || level == "linear" {
			continue
		}
		st := NewState(m.Read.DevName(mse.Devnm))
		st.Err, st.FromAuto, st.Devnm = 1, true, mse.Devnm
		e := &entry{st: st, uuid: m.Read.UUID(mse.Devnm), shared: m.Read.Clustered(mse.Devnm)}
		m.list = append(m.list, e)
		used[mse.Devnm] = true
		if m.isShared(e) && !m.Opt.Oneshot {
			m.Shared.holdFor(e.uuid) // ask for its delivery lease now
		}
		switch {
		case !test:
		case m.isShared(e) && !m.Opt.Oneshot:
			e.test = true // sent with its first delivered look
		case !m.isShared(e) || m.OneshotReports:
			m.send(Event{Name: "TestMessage", Dev: st.Dev}, e.uuid)
		}
		found = true
	}
	return found
}

// send delivers an event of an array this node reports alone.
func (m *Monitor) send(ev Event, uuid string) {
	m.Alert.Send(ev)
	if m.Report != nil {
		m.Report(ev, uuid)
	}
}

// prune forgets arrays found by --scan that stayed unreadable for six looks.
func (m *Monitor) prune() {
	keep := m.list[:0]
	for _, e := range m.list {
		if e.st.FromAuto && e.st.Err > 5 {
			if m.Shared != nil {
				m.Shared.Forget(e.uuid)
			}
			continue
		}
		keep = append(keep, e)
	}
	m.list = keep
}

func (m *Monitor) wait(ctx context.Context) {
	if m.Shared != nil { // a lease granted meanwhile: look at once
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-m.Shared.Woken():
				cancel()
			case <-stop:
			}
		}()
	}
	if m.Wait != nil {
		m.Wait(ctx, m.Opt.Delay)
		return
	}
	WaitMdstat(ctx, "/", m.Opt.Delay)
}

// WaitMdstat waits until md signals a change on /proc/mdstat (poll's POLLPRI, as mdadm's select
// on its exceptfds), ctx ends, or d passes.
func WaitMdstat(ctx context.Context, root string, d time.Duration) {
	f, err := os.Open(filepath.Join(root, "proc", "mdstat"))
	if err != nil {
		sleep(ctx, d)
		return
	}
	defer f.Close()
	_, _ = io.Copy(io.Discard, f) // reading it is what arms the change notice
	deadline := time.Now().Add(d)
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		step := min(left, time.Second) // look at ctx at least every second
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		n, err := unix.Poll(fds, int(step/time.Millisecond))
		if err != nil && err != unix.EINTR {
			sleep(ctx, left)
			return
		}
		if n > 0 && fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
