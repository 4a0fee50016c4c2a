package dlmtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// testInspect: Inspect shows holders with their session, mode and token, the number of waiting
// requests (new and conversions) and the value block, without taking a lock or queueing.
func testInspect(t *testing.T, h Harness) {
	ss := sessions(t, h, 3)
	ctx := ctxT(t, 30*time.Second)
	in := inspector(t, ss[2])
	if info, err := in.Inspect(ctx, "never-used"); err != nil || len(info.Granted) != 0 || info.Waiting != 0 || info.LVB != nil {
		t.Fatalf("a resource never used: %+v, %v", info, err)
	}
	if _, err := in.Inspect(ctx, ""); !errors.Is(err, dlm.ErrInvalidResource) {
		t.Fatalf("Inspect of an empty name: %v", err)
	}
	w, err := ss[0].Lock(ctx, "r", dlm.EX)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Unlock(ctx, dlm.WithLVB([]byte("v"))); err != nil {
		t.Fatal(err)
	}
	a, err := ss[0].Lock(ctx, "r", dlm.PR)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ss[1].Lock(ctx, "r", dlm.CR)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if _, err := ss[1].Lock(ctx, "r", dlm.EX); err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}()
	waitRequests(t, ss[2], "r", 3)
	conv := make(chan error, 1)
	go func() { conv <- b.Convert(ctx, dlm.PW) }()
	waitRequests(t, ss[2], "r", 4)
	info, err := in.Inspect(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	id := func(s dlm.Session) dlm.SessionID {
		if i, ok := s.(dlm.Identified); ok {
			return i.ID()
		}
		return 0
	}
	want := []dlm.Holder{{Session: id(ss[0]), Mode: dlm.PR, Token: a.Token()}, {Session: id(ss[1]), Mode: dlm.CR, Token: b.Token()}}
	if !slices.Equal(info.Granted, want) || info.Waiting != 2 || string(info.LVB) != "v" {
		t.Fatalf("Inspect = %+v, want granted %+v, 2 waiting (EX and the conversion to PW), LVB v", info, want)
	}
	// Inspecting queued nothing: a NL request is still granted at once, and the holders are
	// unchanged.
	nl, err := ss[2].TryLock(ctx, "r", dlm.NL)
	if err != nil {
		t.Fatal(err)
	}
	nl.Unlock(ctx)
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-conv; err != nil {
		t.Fatal(err)
	}
}

func storeSession(t testing.TB, s dlm.Session) dlm.Store {
	t.Helper()
	ss, ok := s.(dlm.StoreSession)
	if !ok {
		t.Skipf("%T is not a dlm.StoreSession", s)
	}
	return ss.Store()
}

// testStore: keys are bound to the writer's session, Get reads any past revision, and Watch
// streams every change after a revision, in order.
func testStore(t *testing.T, h Harness) {
	ss := sessions(t, h, 2)
	a, b := storeSession(t, ss[0]), storeSession(t, ss[1])
	idA, idB := ss[0].(dlm.Identified).ID(), ss[1].(dlm.Identified).ID()
	ctx := ctxT(t, 30*time.Second)
	p := uniqueKey(t)
	r1, err := a.Put(ctx, p+"n/1", []byte("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, p+"n/2", []byte("10.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, p+"n~", []byte("outside n/")); err != nil {
		t.Fatal(err)
	}
	if r2 <= r1 {
		t.Fatalf("revisions %d then %d", r1, r2)
	}
	kvs, rev, err := b.Get(ctx, p+"n/", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []dlm.KeyValue{
		{Key: p + "n/1", Value: []byte("10.0.0.1"), ModRevision: r1, Session: idA},
		{Key: p + "n/2", Value: []byte("10.0.0.2"), ModRevision: r2, Session: idB},
	}
	if !equalKVs(kvs, want) || rev < r2 {
		t.Fatalf("Get = %+v at %d, want %+v at ≥ %d", kvs, rev, want, r2)
	}
	if kvs, rev, err := b.Get(ctx, p+"n/", r1); err != nil || !equalKVs(kvs, want[:1]) || rev != r1 {
		t.Fatalf("Get at %d = %+v at %d, %v; want %+v", r1, kvs, rev, err, want[:1])
	}
	if kvs, _, err := b.Get(ctx, p+"none/", 0); err != nil || len(kvs) != 0 {
		t.Fatalf("Get of an empty prefix = %+v, %v", kvs, err)
	}
	testStoreWatch(t, ctx, a, b, p, r1, want[1], idA)
}

// testStoreWatch: a watch from revision r1 sees every change after it in order (n2 is the
// first: b's put of n/2), ends with its context, and a watch from now sees only what follows.
func testStoreWatch(t *testing.T, ctx context.Context, a, b dlm.Store, p string, r1 int64, n2 dlm.KeyValue, idA dlm.SessionID) {
	wctx, cancel := context.WithCancel(ctx)
	wch := b.Watch(wctx, p+"n/", r1)
	r3, err := a.Put(ctx, p+"n/1", []byte("10.0.0.9"))
	if err != nil {
		t.Fatal(err)
	}
	r4, err := a.Delete(ctx, p+"n/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, p+"n/1"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	wantEvs := []dlm.WatchEvent{
		{KV: n2},
		{KV: dlm.KeyValue{Key: p + "n/1", Value: []byte("10.0.0.9"), ModRevision: r3, Session: idA}},
		{Deleted: true, KV: dlm.KeyValue{Key: p + "n/1", ModRevision: r4}},
	}
	got := collect(t, wch, len(wantEvs))
	for i := range wantEvs {
		if !equalEvent(got[i], wantEvs[i]) {
			t.Errorf("watch event %d = %+v, want %+v", i, got[i], wantEvs[i])
		}
	}
	cancel()
	for r := range wch {
		if len(r.Events) > 0 {
			t.Errorf("event after the watch's context ended: %+v", r)
		}
	}
	// A watch after the latest revision sees only what comes next.
	wctx, cancel = context.WithCancel(ctx)
	defer cancel()
	_, now, err := b.Get(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	wch = b.Watch(wctx, p, now)
	r5, err := b.Put(ctx, p+"n/3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := collect(t, wch, 1)[0]; ev.Deleted || ev.KV.Key != p+"n/3" || ev.KV.ModRevision != r5 {
		t.Errorf("watch from now: first event %+v, want the put of n/3 at %d", ev, r5)
	}
}

// testStoreExpiry: a session's keys vanish when it expires, all in one revision, and a session
// that ended writes nothing more.
func testStoreExpiry(t *testing.T, h Harness) {
	ss := sessions(t, h, 2, dlm.WithTTL(h.TTL))
	a, b := storeSession(t, ss[0]), storeSession(t, ss[1])
	ctx := ctxT(t, 30*time.Second)
	p := uniqueKey(t)
	r0, err := a.Put(ctx, p+"nodes/1", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, p+"ls/x/1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, p+"nodes/2", []byte("b")); err != nil {
		t.Fatal(err)
	}
	wch := b.Watch(ctx, p, r0)
	collect(t, wch, 2) // ls/x/1 and nodes/2
	h.Expire(t, ss[0])
	evs := collect(t, wch, 2)
	if !evs[0].Deleted || !evs[1].Deleted || evs[0].KV.ModRevision != evs[1].KV.ModRevision {
		t.Fatalf("expiry events %+v, want both keys of the session deleted in one revision", evs)
	}
	keys := []string{evs[0].KV.Key, evs[1].KV.Key}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{p + "ls/x/1", p + "nodes/1"}) {
		t.Fatalf("deleted %v", keys)
	}
	if kvs, _, err := b.Get(ctx, p, 0); err != nil || len(kvs) != 1 || kvs[0].Key != p+"nodes/2" {
		t.Fatalf("after the expiry: %+v, %v; want nodes/2 only", kvs, err)
	}
	if _, err := a.Put(ctx, p+"nodes/1", []byte("again")); !isAny(err, dlm.ErrSessionExpired) {
		t.Fatalf("Put after the session expired: %v, want ErrSessionExpired", err)
	}
	ss[1].Close()
	if _, err := b.Put(ctx, p+"nodes/2", nil); !isAny(err, dlm.ErrClosed, dlm.ErrSessionExpired) {
		t.Fatalf("Put after the session closed: %v, want ErrClosed", err)
	}
}

// collect reads n events from a watch, failing on an error or a closed channel.
func collect(t testing.TB, wch <-chan dlm.WatchResponse, n int) []dlm.WatchEvent {
	t.Helper()
	var out []dlm.WatchEvent
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case r, ok := <-wch:
			if !ok {
				t.Fatalf("watch closed after %d events, want %d", len(out), n)
			}
			if r.Err != nil {
				t.Fatalf("watch: %v", r.Err)
			}
			out = append(out, r.Events...)
		case <-timeout:
			t.Fatalf("watch gave %d events, want %d", len(out), n)
		}
	}
	if len(out) > n {
		t.Fatalf("watch gave %+v, want %d events", out, n)
	}
	return out
}

func equalKVs(a, b []dlm.KeyValue) bool {
	return slices.EqualFunc(a, b, func(x, y dlm.KeyValue) bool { return equalKV(x, y) })
}

func equalKV(x, y dlm.KeyValue) bool {
	return x.Key == y.Key && string(x.Value) == string(y.Value) && x.ModRevision == y.ModRevision && x.Session == y.Session
}

func equalEvent(x, y dlm.WatchEvent) bool { return x.Deleted == y.Deleted && equalKV(x.KV, y.KV) }
