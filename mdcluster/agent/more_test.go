package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/internal/pki"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
)

// The agent opens its lock engine through dlm only: an embedded one-node etcd and an
// external etcd give an engine whose sessions resume, keep a deadline and a store.
func TestOpenLockService(t *testing.T) {
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{Node: config.Node{Name: "node1", ID: 1}, LockEngine: config.LockEngine{Type: config.EngineEmbedded,
		DataDir: t.TempDir(), ClientURL: urls[0], PeerURL: urls[1], Prefix: "/mdcluster/"}}
	eng, closeEngine, err := openLockService(t.Context(), c, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	s, err := eng.NewSession(t.Context(), dlm.WithTTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []bool{isA[dlm.Identified](s), isA[dlm.Deadliner](s), isA[dlm.StoreSession](s), isA[dlm.Inspector](s), isA[dlm.Resumer](eng)} {
		if !ok {
			t.Fatal("the etcd engine lacks a capability the agent relies on")
		}
	}
	ext := &config.Config{Node: c.Node, LockEngine: config.LockEngine{Type: config.EngineExternal, Endpoints: []string{urls[0]}, Prefix: "/mdcluster/"}}
	eng2, close2, err := openLockService(t.Context(), ext, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng2.(dlm.Resumer).Resume(t.Context(), s.(dlm.Identified).ID()); err != nil {
		t.Fatalf("resume through the external client: %v", err)
	}
	_ = s.Close()
	close2()
	closeEngine()
	if _, _, err := openLockService(t.Context(), &config.Config{LockEngine: config.LockEngine{Type: "zookeeper"}}, discardLog()); err == nil {
		t.Fatal("an unknown engine was accepted")
	}
}

func isA[T any](v any) bool { _, ok := v.(T); return ok }

// New wires the running system's paths and mdadm.
func TestNew(t *testing.T) {
	cfg := &config.Config{Node: config.Node{Name: "n", ID: 1}, Arrays: []config.Array{raid5},
		Leases:     config.Leases{TTL: config.Duration{Duration: 15 * time.Second}, WatchdogMargin: config.Duration{Duration: 5 * time.Second}},
		LockEngine: config.LockEngine{Prefix: "/mdcluster/"}, Resync: config.Resync{MaxConcurrent: 1}}
	a, err := New(cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if a.paths != DefaultPaths() || a.openWatchdog == nil || a.rec.array(raid5.UUID) == nil || a.Counters().Actions == nil {
		t.Fatal("New did not wire the agent")
	}
	if _, why := a.openWatchdog(0, false); !strings.Contains(why, "leases.watchdog") {
		t.Fatalf("no watchdog configured: %q", why)
	}
}

// Assembly: a half-done assembly left inactive is cleared first; mdadm's failure is the pass's
// error and the lease is kept; an assembly md does not show is an error.
func TestAssembleEdges(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	n.open()
	n.mdadm.fail = errors.New("mdadm: /dev/vdb is busy")
	if _, err := n.pass(raid5.UUID); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("mdadm failure: %v", err)
	}
	if !n.rec.array(raid5.UUID).actHeld.Load() {
		t.Fatal("a failed assembly dropped the lease")
	}
	n.mdadm.fail = nil
	n.mdadm.captures = map[string]string{raid5.UUID: "raid1-bitmap"} // assembles something else
	if _, err := n.pass(raid5.UUID); err == nil || !strings.Contains(err.Error(), "shows no running array") {
		t.Fatalf("assembly md does not show: %v", err)
	}
	// md left the members bound in an inactive array of this UUID: cleared first.
	n2 := c.node("node2", 2, raid5)
	n2.md.load(t, "raid5-nobitmap")
	n2.md.set(t, "md1", "array_state", "inactive")
	n2.md.set(t, "md1", "level", "")
	if arrays, _ := n2.md.Arrays(); inactive(arrays, raid5.UUID) == nil {
		t.Fatal("the test's inactive array is not seen as one")
	}
	_ = n.cur.Load().Close()
	n2.open()
	n2.mustPass(raid5.UUID)
	if w := n2.md.log(); len(w) == 0 || w[0] != "md1 stop" || n2.assembled() != 1 {
		t.Fatalf("writes %q assemblies %d", w, n2.assembled())
	}
}

// A lease held by this very session but unknown to the pass (an adoption that did not
// happen) is adopted, not treated as another node's: the array is not stopped.
func TestHeldByOwnSession(t *testing.T) {
	c := newCluster(t)
	n := c.node("node1", 1, raid5)
	s := n.open()
	n.mustPass(raid5.UUID)
	st := n.rec.array(raid5.UUID)
	st.setAct(nil) // forgotten
	n.mustPass(raid5.UUID)
	if !st.actHeld.Load() || n.stops() != 0 || n.assembled() != 1 {
		t.Fatalf("held %v stops %d assemblies %d", st.actHeld.Load(), n.stops(), n.assembled())
	}
	if h := c.holders(actResource(raid5.UUID)); len(h) != 1 || h[0].Session != s.id {
		t.Fatalf("holders %+v", h)
	}
}

// The API's refusals: no session; an activation lease for a clustered array; a resync lease
// another node holds.
func TestAPIRefusals(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid5, raid10)
	ctx := t.Context()
	if _, err := a.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindActivation}); err == nil || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("without a session: %v", err)
	}
	a.start()
	var bad *api.BadRequest
	if _, err := a.Acquire(ctx, api.AcquireRequest{Array: "shared", Kind: api.KindActivation}); !errors.As(err, &bad) {
		t.Fatalf("activation of a clustered array: %v", err)
	}
	b := c.agent("node2", 2, nil, t.TempDir(), raid5, raid10)
	b.start()
	b.md.load(t, "raid10")
	// node1's first sync of its RAID5 holds the only slot until md has shown idle a while.
	eventually(t, "the resync slot is free", func() bool { return len(c.holders(slotResource(0))) == 0 })
	if _, err := b.Acquire(ctx, api.AcquireRequest{Array: "shared", Kind: api.KindRecovery, Owner: "mdcadm"}); err != nil {
		t.Fatal(err)
	}
	var held *api.HeldError
	if _, err := a.Acquire(ctx, api.AcquireRequest{Array: "shared", Kind: api.KindRecovery}); !errors.As(err, &held) {
		t.Fatalf("recovery lease held elsewhere: %v", err)
	}
	if err := a.Release(ctx, api.ReleaseRequest{Array: "shared", Kind: api.KindAdmin, Token: 7}); !errors.As(err, &bad) {
		t.Fatalf("release of an admin lease not held: %v", err)
	}
	why := "no watchdog"
	a.fencing = why
	if _, err := a.Acquire(ctx, api.AcquireRequest{Array: "data", Kind: api.KindActivation}); err == nil || !strings.Contains(err.Error(), "self-fencing unavailable: no watchdog") {
		t.Fatalf("without self-fencing: %v", err)
	}
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Resyncs, func(r api.Resync) bool { return r.Node == "node2" && r.Array == "shared" }) &&
		!slices.ContainsFunc(st.Leases, func(l api.Lease) bool { return l.Kind == api.KindResync }) {
		t.Logf("status %+v", st)
	}
}

// Each node publishes its syncs; every node's status shows them. An md-cluster sync runs under
// the kernel's resync lock, not an agent lease: no lease is shown for it. Without a store, a
// node shows its own.
func TestResyncsPublished(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir(), raid10)
	b := c.agent("node2", 2, nil, t.TempDir(), raid10)
	a.start()
	b.start()
	b.md.load(t, "raid10")
	b.md.set(t, "md2", "sync_action", "recover")
	b.md.set(t, "md2", "sync_completed", "100 / 400")
	b.q.add(raid10.UUID)
	eventually(t, "node1 sees node2's recovery", func() bool {
		st, err := a.Status(t.Context())
		return err == nil && slices.ContainsFunc(st.Resyncs, func(r api.Resync) bool {
			return r.Node == "node2" && r.Action == "recover" && !r.Waiting && !r.Leased && r.Progress == 0.25
		}) && !slices.ContainsFunc(st.Leases, func(l api.Lease) bool { return l.Kind == api.KindResync })
	})
	if got := b.resyncs(t.Context(), nil); len(got) != 1 || got[0].Node != "node2" {
		t.Fatalf("local resyncs %+v", got)
	}
	b.md.set(t, "md2", "sync_action", "idle")
	b.q.add(raid10.UUID)
	eventually(t, "the record goes once md is idle", func() bool {
		st, _ := a.Status(t.Context())
		return len(st.Resyncs) == 0
	})
}

// confirmNewDisk: the device with the request's device UUID is confirmed, an unknown one is
// refused (NACK). On the host the ioctls themselves fail (no md): the answer is attempted on
// the md device and the error says so; the VM suite shows the real answers.
func TestConfirmNewDiskAttempts(t *testing.T) {
	c := newCluster(t)
	a := c.agent("node1", 1, nil, t.TempDir())
	sys, dev := lab(t)
	a.paths.Sys, a.paths.Dev = filepath.Dir(sys), dev
	if err := os.MkdirAll(filepath.Join(a.paths.Sys, "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(sys, filepath.Join(a.paths.Sys, "class", "block")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "md0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err := findByDeviceUUID(filepath.Join(a.paths.Sys, "class", "block"), dev, md.UUID{9})
	if err == nil {
		t.Fatal("an unknown device UUID was found")
	}
	if err := a.confirmNewDisk(&md.NewDiskEvent{Array: "md0", DeviceUUID: md.UUID{9}}); err == nil || !strings.Contains(err.Error(), "nack") {
		t.Fatalf("unknown disk: %v", err)
	}
	if err := a.confirmNewDisk(&md.NewDiskEvent{Array: "nope"}); err == nil {
		t.Fatal("no md device: no error")
	}
	_ = context.Background
}

// With TLS in the configuration, the agent's own member serves client and peer URLs with mutual
// TLS and the agent's client presents the node's certificate; a client without one is turned
// away (review item 10: anyone on the network could delete lock keys).
func TestOpenLockServiceTLS(t *testing.T) {
	ca, err := pki.NewCA("mdlab", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.Issue("node1", nil, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pki")
	if err := n.Save(dir, ca); err != nil {
		t.Fatal(err)
	}
	files := config.TLS{CA: filepath.Join(dir, pki.CACert), Cert: filepath.Join(dir, pki.NodeCert), Key: filepath.Join(dir, pki.NodeKey)}
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range urls {
		urls[i] = strings.Replace(urls[i], "http://", "https://", 1)
	}
	c := &config.Config{Node: config.Node{Name: "node1", ID: 1}, LockEngine: config.LockEngine{Type: config.EngineEmbedded,
		DataDir: t.TempDir(), ClientURL: urls[0], PeerURL: urls[1], Prefix: "/mdcluster/", TLS: files}}
	// A client the member turns away retries: the bound makes that a failure, not a hang.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	eng, closeEngine, err := openLockService(ctx, c, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine()
	s, err := eng.NewSession(ctx, dlm.WithTTL(5*time.Second))
	if err != nil {
		t.Fatalf("session over mutual TLS: %v", err)
	}
	defer s.Close()
	ext := &config.Config{Node: c.Node, LockEngine: config.LockEngine{Type: config.EngineExternal, Endpoints: []string{urls[0]}, Prefix: "/mdcluster/", TLS: files}}
	eng2, close2, err := openLockService(ctx, ext, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	if _, err := eng2.(dlm.Resumer).Resume(ctx, s.(dlm.Identified).ID()); err != nil {
		t.Fatalf("resume through an external client with the node's certificate: %v", err)
	}
	anon, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: []string{urls[0]}, CAFile: files.CA, Logger: discardLog()})
	if err == nil {
		defer anon.Close()
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		defer acancel()
		if _, err := anon.Get(actx, "/mdcluster/"); err == nil {
			t.Fatal("a client without a certificate read the lock keys")
		}
	}
}
