package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// day2Backend is fakeBackend with the event log, monitor and scrub interfaces.
type day2Backend struct {
	fakeBackend
	log      []Event
	mu       sync.Mutex
	reported []ReportRequest
	peers    []Peer
	held     chan struct{} // closed when the monitor lease is taken
	released chan struct{} // closed when its holder went away
}

func (b *day2Backend) Events(ctx context.Context, since int64, limit int, follow bool, send func(Event) error) error {
	n := 0
	for _, e := range b.log {
		if e.Seq > since && (limit == 0 || n < limit) {
			if err := send(e); err != nil {
				return err
			}
			n++
		}
	}
	if follow {
		<-ctx.Done()
		return ctx.Err()
	}
	if since == 99 {
		return errors.New("the store failed half-way")
	}
	return nil
}

func (b *day2Backend) Report(_ context.Context, r ReportRequest, p Peer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reported, b.peers = append(b.reported, r), append(b.peers, p)
	return nil
}

func (b *day2Backend) HoldMonitor(ctx context.Context, r MonitorHoldRequest, granted func(MonitorGrant) error) error {
	if r.Array == "none" {
		return &BadRequest{Msg: "array: none"}
	}
	if err := granted(MonitorGrant{Token: 9, Rev: 3, Cursor: []byte(`{"x":1}`)}); err != nil {
		return err
	}
	close(b.held)
	<-ctx.Done()
	close(b.released)
	return nil
}

func (b *day2Backend) SaveCursor(_ context.Context, r CursorRequest) (CursorReply, error) {
	if r.Rev != 3 {
		return CursorReply{}, &ConflictError{Msg: "moved"}
	}
	return CursorReply{Rev: 4}, nil
}

func (b *day2Backend) Scrub(_ context.Context, r ScrubRequest) (ScrubReply, error) {
	return ScrubReply{State: "queued", Message: r.Array + " " + r.Action}, nil
}

func serveBackend(t *testing.T, b Backend) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	s := &Server{Backend: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: os.Getuid()}
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return NewClient(sock)
}

func TestEventsStream(t *testing.T) {
	b := &day2Backend{log: []Event{{Seq: 5, Node: "n1", Type: EventAssembled}, {Seq: 8, Node: "n2", Type: EventStopped, Reason: "r"}}}
	c := serveBackend(t, b)
	ctx := context.Background()
	var got []Event
	collect := func(e Event) error { got = append(got, e); return nil }
	if err := c.Events(ctx, 0, 0, false, collect); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b.log, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	got = nil
	if err := c.Events(ctx, 5, 1, false, collect); err != nil || len(got) != 1 || got[0].Seq != 8 {
		t.Fatalf("since 5: %+v, %v", got, err)
	}
	got = nil
	if err := c.Events(ctx, 10, 0, false, collect); err != nil || len(got) != 0 {
		t.Fatalf("nothing after 10: %+v, %v", got, err)
	}
	// A failure after the stream began is its last line.
	if err := c.Events(ctx, 99, 0, false, collect); err == nil || err.Error() != "the store failed half-way" {
		t.Fatalf("failed stream: %v", err)
	}
	// follow: events come, then the stream waits until the caller goes away.
	fctx, cancel := context.WithCancel(ctx)
	got = nil
	done := make(chan error, 1)
	go func() {
		done <- c.Events(fctx, 0, 0, true, func(e Event) error {
			got = append(got, e)
			if len(got) == 2 {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || len(got) != 2 {
			t.Fatalf("follow: %v after %d events", err, len(got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}

func TestReportCarriesPeer(t *testing.T) {
	b := &day2Backend{}
	c := serveBackend(t, b)
	r := ReportRequest{Type: EventMdcadm, Array: "data", Fields: map[string]string{"args": "--stop /dev/md0"}}
	if err := c.Report(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ReportRequest{r}, b.reported); diff != "" {
		t.Fatalf("reported (-want +got):\n%s", diff)
	}
	if b.peers[0] != (Peer{PID: os.Getpid(), UID: os.Getuid()}) {
		t.Fatalf("peer %+v, want this process", b.peers[0])
	}
	var re *RemoteError
	if err := c.Report(context.Background(), ReportRequest{}); !errors.As(err, &re) || re.Code != 400 {
		t.Fatalf("report without a type: %v", err)
	}
}

func TestMonitorHoldAndCursor(t *testing.T) {
	b := &day2Backend{held: make(chan struct{}), released: make(chan struct{})}
	c := serveBackend(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	grants := make(chan MonitorGrant, 2)
	done := make(chan error, 1)
	go func() {
		done <- c.HoldMonitor(ctx, MonitorHoldRequest{Array: "shared"}, func(g MonitorGrant) error { grants <- g; return nil })
	}()
	g := <-grants
	if g.Token != 9 || g.Rev != 3 || string(g.Cursor) != `{"x":1}` {
		t.Fatalf("grant %+v", g)
	}
	<-b.held
	if rep, err := c.SaveCursor(context.Background(), CursorRequest{Array: "shared", Token: 9, Rev: 3, Cursor: []byte(`{}`)}); err != nil || rep.Rev != 4 {
		t.Fatalf("save: %+v %v", rep, err)
	}
	var re *RemoteError
	if _, err := c.SaveCursor(context.Background(), CursorRequest{Array: "shared", Token: 9, Rev: 1, Cursor: []byte(`{}`)}); !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("stale save: %v", err)
	}
	cancel()
	select {
	case <-b.released:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder went away but the backend still holds the lease")
	}
	<-done
	if err := c.HoldMonitor(context.Background(), MonitorHoldRequest{Array: "none"}, func(MonitorGrant) error { return nil }); !errors.As(err, &re) || re.Code != 400 {
		t.Fatalf("hold of an unknown array: %v", err)
	}
}

func TestScrubRequests(t *testing.T) {
	c := serveBackend(t, &day2Backend{})
	rep, err := c.Scrub(context.Background(), ScrubRequest{Array: "data", Action: ScrubCheck})
	if err != nil || rep != (ScrubReply{State: "queued", Message: "data check"}) {
		t.Fatalf("scrub: %+v %v", rep, err)
	}
	var re *RemoteError
	if _, err := c.Scrub(context.Background(), ScrubRequest{Array: "data", Action: "frozen"}); !errors.As(err, &re) || re.Code != 400 {
		t.Fatalf("scrub frozen: %v", err)
	}
}

// A Backend without the day-2 interfaces answers 501 to each of their endpoints.
func TestDay2NotImplemented(t *testing.T) {
	c := serveBackend(t, &fakeBackend{})
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"events": func() error { return c.Events(ctx, 0, 0, false, func(Event) error { return nil }) },
		"report": func() error { return c.Report(ctx, ReportRequest{Type: "x"}) },
		"hold": func() error {
			return c.HoldMonitor(ctx, MonitorHoldRequest{Array: "a"}, func(MonitorGrant) error { return nil })
		},
		"cursor": func() error { _, err := c.SaveCursor(ctx, CursorRequest{}); return err },
		"scrub":  func() error { _, err := c.Scrub(ctx, ScrubRequest{Action: "check"}); return err },
	} {
		var re *RemoteError
		if err := call(); !errors.As(err, &re) || re.Code != 501 {
			t.Errorf("%s: %v, want 501", name, err)
		}
	}
}
