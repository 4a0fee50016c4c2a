package dlmtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

func logOf(t testing.TB, s dlm.Session) dlm.Log {
	t.Helper()
	l, ok := storeSession(t, s).(dlm.Log)
	if !ok {
		t.Skipf("the store of %T is not a dlm.Log", s)
	}
	return l
}

// testLog: appended records outlive their writer's session, read back in revision order from
// any revision, a watch sees them, and a writer whose session ended appends nothing.
func testLog(t *testing.T, h Harness) {
	ss := sessions(t, h, 2, dlm.WithTTL(h.TTL))
	a, b := logOf(t, ss[0]), logOf(t, ss[1])
	ctx := ctxT(t, 30*time.Second)
	p := uniqueKey(t)
	// A write elsewhere first, so that the watch starts after a revision that exists (0 would
	// mean "from whenever the watch starts").
	if _, err := storeSession(t, ss[1]).Put(ctx, uniqueKey(t)+"x", nil); err != nil {
		t.Fatal(err)
	}
	_, start, err := storeSession(t, ss[1]).Get(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	wch := storeSession(t, ss[1]).Watch(ctx, p, start)
	var revs []int64
	for i, l := range []dlm.Log{a, b, a} {
		rev, err := l.Append(ctx, p, []byte(fmt.Sprint("event ", i)), dlm.Retention{})
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) > 0 && rev <= revs[len(revs)-1] {
			t.Fatalf("append revisions %v then %d: not increasing", revs, rev)
		}
		revs = append(revs, rev)
	}
	if evs := collect(t, wch, 3); evs[0].KV.ModRevision != revs[0] || string(evs[2].KV.Value) != "event 2" {
		t.Fatalf("watch saw %+v, want the three appends at %v", evs, revs)
	}
	h.Expire(t, ss[0])
	kvs, now, err := b.Since(ctx, p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 3 || now < revs[2] {
		t.Fatalf("after the writer's session expired: %d records at %d, want all 3 at ≥ %d", len(kvs), now, revs[2])
	}
	for i, kv := range kvs {
		if kv.ModRevision != revs[i] || string(kv.Value) != fmt.Sprint("event ", i) || kv.Session != 0 {
			t.Errorf("record %d = %+v, want event %d at %d bound to no session", i, kv, i, revs[i])
		}
	}
	if kvs, _, err := b.Since(ctx, p, revs[0], 1); err != nil || len(kvs) != 1 || kvs[0].ModRevision != revs[1] {
		t.Fatalf("Since(%d, limit 1) = %+v, %v; want the record at %d", revs[0], kvs, err, revs[1])
	}
	if kvs, _, err := b.Since(ctx, p, revs[2], 0); err != nil || len(kvs) != 0 {
		t.Fatalf("Since the last record = %+v, %v; want none", kvs, err)
	}
	if _, err := a.Append(ctx, p, []byte("late"), dlm.Retention{}); !isAny(err, dlm.ErrSessionExpired) {
		t.Fatalf("Append after the session expired: %v, want ErrSessionExpired", err)
	}
}

// testLogRetention: Append trims the oldest records beyond the count, and those older than the
// age bound, and leaves other prefixes alone.
func testLogRetention(t *testing.T, h Harness) {
	ss := sessions(t, h, 1)
	l := logOf(t, ss[0])
	ctx := ctxT(t, 30*time.Second)
	p, other := uniqueKey(t), uniqueKey(t)
	if _, err := l.Append(ctx, other, []byte("elsewhere"), dlm.Retention{}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := l.Append(ctx, p, []byte(fmt.Sprint(i)), dlm.Retention{MaxCount: 3}); err != nil {
			t.Fatal(err)
		}
	}
	values := func(prefix string) []string {
		kvs, _, err := l.Since(ctx, prefix, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kv := range kvs {
			out = append(out, string(kv.Value))
		}
		return out
	}
	if got := fmt.Sprint(values(p)); got != "[2 3 4]" {
		t.Fatalf("MaxCount 3 after 5 appends kept %s, want [2 3 4]", got)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := l.Append(ctx, p, []byte("new"), dlm.Retention{MaxAge: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(values(p)); got != "[new]" {
		t.Fatalf("MaxAge 40ms kept %s, want only the new record", got)
	}
	if got := fmt.Sprint(values(other)); got != "[elsewhere]" {
		t.Fatalf("another prefix kept %s", got)
	}
}

// testLogCompareAndSwap: a key written with CompareAndSwap outlives its writer, and a write
// based on an old read fails with ErrConflict, so two writers cannot both advance it.
func testLogCompareAndSwap(t *testing.T, h Harness) {
	ss := sessions(t, h, 2, dlm.WithTTL(h.TTL))
	a, b := logOf(t, ss[0]), logOf(t, ss[1])
	ctx := ctxT(t, 30*time.Second)
	key := uniqueKey(t) + "cursor"
	r1, err := a.CompareAndSwap(ctx, key, []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CompareAndSwap(ctx, key, []byte("x"), 0); !errors.Is(err, dlm.ErrConflict) {
		t.Fatalf("create of an existing key: %v, want ErrConflict", err)
	}
	r2, err := a.CompareAndSwap(ctx, key, []byte("2"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("swap at %d: %d, %v", r1, r2, err)
	}
	if _, err := b.CompareAndSwap(ctx, key, []byte("stale"), r1); !errors.Is(err, dlm.ErrConflict) {
		t.Fatalf("swap at an old revision: %v, want ErrConflict", err)
	}
	h.Expire(t, ss[0])
	kvs, _, err := storeSession(t, ss[1]).Get(ctx, key, 0)
	if err != nil || len(kvs) != 1 || string(kvs[0].Value) != "2" || kvs[0].ModRevision != r2 || kvs[0].Session != 0 {
		t.Fatalf("after the writer expired: %+v, %v; want the value 2 at %d, bound to no session", kvs, err, r2)
	}
	if _, err := a.CompareAndSwap(ctx, key, []byte("late"), r2); !isAny(err, dlm.ErrSessionExpired) {
		t.Fatalf("swap after the session expired: %v, want ErrSessionExpired", err)
	}
	if _, err := b.CompareAndDelete(ctx, key, r1); !errors.Is(err, dlm.ErrConflict) {
		t.Fatalf("delete at an old revision: %v, want ErrConflict", err)
	}
	if _, err := b.CompareAndDelete(ctx, key, r2); err != nil {
		t.Fatal(err)
	}
	if kvs, _, err := storeSession(t, ss[1]).Get(ctx, key, 0); err != nil || len(kvs) != 0 {
		t.Fatalf("after the delete: %+v, %v", kvs, err)
	}
	ss[1].Close()
	if _, err := b.CompareAndSwap(context.Background(), key, nil, 0); !isAny(err, dlm.ErrClosed, dlm.ErrSessionExpired) {
		t.Fatalf("swap after the session closed: %v, want ErrClosed", err)
	}
}
