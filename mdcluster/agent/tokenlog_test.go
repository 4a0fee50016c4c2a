package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// readTokenLog returns the events of a node's fencing-token log, in order.
func readTokenLog(t *testing.T, run string) []tokenEvent {
	t.Helper()
	f, err := os.Open(filepath.Join(run, tokenLogName))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tokenEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev tokenEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("token log line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

func events(evs []tokenEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Event)
	}
	return out
}

// logSeenByMdadm records the token log's events at the moment mdadm is called.
type logSeenByMdadm struct {
	Mdadm
	t    *testing.T
	run  string
	seen [][]tokenEvent
}

func (m *logSeenByMdadm) Run(ctx context.Context, args ...string) ([]byte, error) {
	m.seen = append(m.seen, readTokenLog(m.t, m.run))
	return m.Mdadm.Run(ctx, args...)
}

// The grant and the assembly are in the log, with the tokens the node holds, before mdadm runs;
// every line carries the array, the node, the boot and a monotonic time that does not go back.
func TestTokenLogGrantAndAssembly(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	m := &logSeenByMdadm{Mdadm: n.mdadm, t: t, run: n.rec.d.Paths.Run}
	n.rec.d.Mdadm = m
	n.open()
	n.mustPass(raid5.UUID)
	if len(m.seen) != 1 {
		t.Fatalf("mdadm ran %d times", len(m.seen))
	}
	if got := events(m.seen[0]); len(got) != 2 || got[0] != "granted" || got[1] != "assemble" {
		t.Fatalf("token log when mdadm ran: %q, want [granted assemble]", got)
	}
	evs := readTokenLog(t, n.rec.d.Paths.Run)
	v := n.view(raid5.UUID)
	if evs[1].Token != uint64(v.actTok) || evs[0].Token == 0 || evs[0].Token > evs[1].Token {
		t.Fatalf("tokens granted %d, assembled with %d; the node holds %d", evs[0].Token, evs[1].Token, v.actTok)
	}
	for i, e := range evs {
		if e.Array != raid5.UUID || e.Node != "node1" || e.Mono == 0 || (i > 0 && e.Mono < evs[i-1].Mono) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

// A stand-down logs the stop, then the release, in that order (the waiter may be granted only
// after both).
func TestTokenLogStandDown(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.mustPass(raid5.UUID)
	n.rec.array(raid5.UUID).setIntent(func(i *intent) { i.standby = true })
	n.mustPass(raid5.UUID)
	if got := events(readTokenLog(t, n.rec.d.Paths.Run)); len(got) != 4 || got[2] != "stopped" || got[3] != "released" {
		t.Fatalf("token log %q, want [granted assemble stopped released]", got)
	}
	if len(c.holders(actResource(raid5.UUID))) != 0 {
		t.Fatal("the lease is still held")
	}
}

// A copy stopped because it ran without the lease is logged as stopped, with no token.
func TestTokenLogUnleasedStop(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1", 1, raid5), c.node("node2", 2, raid5)
	n1.open()
	n1.mustPass(raid5.UUID)
	n2.open()
	n2.md.load(t, "raid5-nobitmap")
	_, _ = n2.pass(raid5.UUID)
	evs := readTokenLog(t, n2.rec.d.Paths.Run)
	if len(evs) != 1 || evs[0].Event != "stopped" || evs[0].MD != "md1" || evs[0].Token != 0 {
		t.Fatalf("node2's token log %+v, want one stop of md1", evs)
	}
}

// The session-lost steps log the stop of the array they stopped (a new session then takes the
// lease again and assembles anew: new tokens).
func TestTokenLogSessionLost(t *testing.T) {
	c := newCluster(t)
	run := t.TempDir()
	a := c.agent("node1", 1, nil, run, raid5)
	a.start()
	eventually(t, "assembled", func() bool { return a.md.present("md1") })
	c.svc.Expire(a.sm.current().id)
	var evs []tokenEvent
	eventually(t, "stop logged", func() bool {
		evs = readTokenLog(t, run)
		return len(evs) > 2 && evs[2].Event == "stopped"
	})
	if got := events(evs[:2]); got[0] != "granted" || got[1] != "assemble" {
		t.Fatalf("token log %q, want granted, assemble, stopped", events(evs))
	}
	if stop := evs[2]; stop.MD != "md1" || stop.Boot != "boot-1" {
		t.Fatalf("stop event %+v", stop)
	}
	for _, e := range evs[3:] {
		if e.Token != 0 && e.Token <= evs[1].Token {
			t.Fatalf("the new session's %s has token %d, not above the lost one's %d", e.Event, e.Token, evs[1].Token)
		}
	}
}
