package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/memlock"
)

func testManager(t *testing.T, eng dlm.Engine, run, boot string) *sessionManager {
	return &sessionManager{eng: eng, ttl: 15 * time.Second, paths: Paths{Run: run}, bootID: boot, log: discardLog(),
		member: memberInfo{Name: "node1", ID: 1}, memberKey: "/mdcluster/state/members/node1",
		resources: func() []string { return []string{actResource(raid5.UUID)} }}
}

// A restarted agent resumes the session its predecessor recorded, with its locks: it never
// opens a new one beside it.
func TestSessionResumeFromRecord(t *testing.T) {
	svc := memlock.NewService()
	run := t.TempDir()
	m1 := testManager(t, svc.Engine(), run, "boot-1")
	s1, err := m1.open(t.Context())
	if err != nil || s1.resumed {
		t.Fatalf("first open: %v resumed=%v", err, s1 != nil && s1.resumed)
	}
	if _, err := s1.TryLock(t.Context(), actResource(raid5.UUID), dlm.EX); err != nil {
		t.Fatal(err)
	}
	s1.Session.(interface{ Orphan() }).Orphan()
	m2 := testManager(t, svc.Engine(), run, "boot-1")
	s2, err := m2.open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !s2.resumed || s2.id != s1.id || s2.takeAdopted(actResource(raid5.UUID)) == nil {
		t.Fatalf("not resumed with its lock: resumed %v id %x/%x", s2.resumed, s2.id, s1.id)
	}
	if len(svc.Sessions()) != 1 {
		t.Fatalf("sessions %v, want one", svc.Sessions())
	}
}

// A resume that fails for a transient reason (the lock service does not answer) is retried,
// never answered with a new session (item 4).
func TestSessionResumeRetriesTransientErrors(t *testing.T) {
	svc := memlock.NewService()
	run := t.TempDir()
	m1 := testManager(t, svc.Engine(), run, "boot-1")
	s1, err := m1.open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s1.Session.(interface{ Orphan() }).Orphan()
	eng := svc.Engine()
	eng.Fail()
	m2 := testManager(t, eng, run, "boot-1")
	go func() {
		time.Sleep(1500 * time.Millisecond)
		eng.Heal()
	}()
	s2, err := m2.open(t.Context())
	if err != nil || !s2.resumed || s2.id != s1.id {
		t.Fatalf("after the outage: %v, resumed %v", err, s2 != nil && s2.resumed)
	}
	if len(svc.Sessions()) != 1 {
		t.Fatalf("a new session was opened beside the old one: %v", svc.Sessions())
	}
	// While the service stays down and the caller gives up, nothing new is opened either.
	s2.Session.(interface{ Orphan() }).Orphan()
	eng.Fail()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if _, err := testManager(t, eng, run, "boot-1").open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open during an outage: %v", err)
	}
	if len(svc.Sessions()) != 1 {
		t.Fatalf("sessions %v", svc.Sessions())
	}
}

// A recorded session that is gone gives way to a new one; a record of another boot is ignored.
func TestSessionRecordGoneOrStale(t *testing.T) {
	svc := memlock.NewService()
	run := t.TempDir()
	m1 := testManager(t, svc.Engine(), run, "boot-1")
	s1, _ := m1.open(t.Context())
	svc.Expire(s1.id)
	s2, err := testManager(t, svc.Engine(), run, "boot-1").open(t.Context())
	if err != nil || s2.resumed || s2.id == s1.id {
		t.Fatalf("expired record: %v resumed %v", err, s2.resumed)
	}
	s3, err := testManager(t, svc.Engine(), run, "boot-2").open(t.Context())
	if err != nil || s3.resumed {
		t.Fatalf("another boot's record was resumed: %v", err)
	}
	if err := os.WriteFile(m1.paths.sessionFile(), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := m1.readRecord(); ok {
		t.Fatal("an unreadable record was used")
	}
}

// Without a session file (it was deleted, as systemd's RuntimeDirectory= does at a stop), the
// member key written in this boot names the earlier session: it is resumed. A key from another
// boot is not (item 4).
func TestSessionPreviousIncarnation(t *testing.T) {
	svc := memlock.NewService()
	run := t.TempDir()
	m1 := testManager(t, svc.Engine(), run, "boot-1")
	s1, _ := m1.open(t.Context())
	if err := m1.register(t.Context(), s1); err != nil {
		t.Fatal(err)
	}
	s1.Session.(interface{ Orphan() }).Orphan()
	m1.forget()
	m2 := testManager(t, svc.Engine(), run, "boot-1")
	s2, err := m2.open(t.Context())
	if err != nil || !s2.resumed || s2.id != s1.id {
		t.Fatalf("previous incarnation not resumed: %v", err)
	}
	eventually(t, "the extra session closed", func() bool { return len(svc.Sessions()) == 1 })
	if err := m2.register(t.Context(), s2); err != nil {
		t.Fatal(err)
	}
	s2.Session.(interface{ Orphan() }).Orphan()
	m2.forget()
	s3, err := testManager(t, svc.Engine(), run, "boot-2").open(t.Context())
	if err != nil || s3.resumed {
		t.Fatalf("another boot's session was resumed: %v", err)
	}
	kvs, _, err := s3.Session.(dlm.StoreSession).Store().Get(t.Context(), m2.memberKey, 0)
	if err != nil || len(kvs) != 1 {
		t.Fatal(err, kvs)
	}
	var mi memberInfo
	if err := json.Unmarshal(kvs[0].Value, &mi); err != nil || mi.BootID != "boot-1" || kvs[0].Session != s2.id {
		t.Fatalf("member %+v", mi)
	}
}

// An adoption that fails for a transient reason is retried: a lock left unadopted would look
// like another holder's, and the array would be stopped.
func TestSessionAdoptRetries(t *testing.T) {
	svc := memlock.NewService()
	eng := svc.Engine()
	m := testManager(t, eng, t.TempDir(), "boot-1")
	s, _ := m.open(t.Context())
	if _, err := s.TryLock(t.Context(), actResource(raid5.UUID), dlm.EX); err != nil {
		t.Fatal(err)
	}
	eng.FailCalls(2)
	ss := newSession(s.Session, 2, true)
	if err := m.adopt(t.Context(), ss); err != nil {
		t.Fatal(err)
	}
	if ss.takeAdopted(actResource(raid5.UUID)) == nil {
		t.Fatal("the lock was not adopted after transient failures")
	}
}

func TestMonotonicRoundTrip(t *testing.T) {
	d := time.Now().Add(7 * time.Second)
	if got := monoToTime(timeToMono(d)); got.Sub(d).Abs() > 10*time.Millisecond {
		t.Fatalf("round trip off by %s", got.Sub(d))
	}
}
