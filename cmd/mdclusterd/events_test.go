package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/api"
)

// logBackend serves a fixed event log.
type logBackend struct{ log []api.Event }

func (b *logBackend) Status(context.Context) (api.Status, error) { return api.Status{}, nil }
func (b *logBackend) Acquire(context.Context, api.AcquireRequest) (api.Grant, error) {
	return api.Grant{}, errors.New("no")
}
func (b *logBackend) Release(context.Context, api.ReleaseRequest) error { return nil }
func (b *logBackend) Report(context.Context, api.ReportRequest, api.Peer) error {
	return nil
}
func (b *logBackend) Events(ctx context.Context, since int64, limit int, follow bool, send func(api.Event) error) error {
	for _, e := range b.log {
		if e.Seq > since {
			if err := send(e); err != nil {
				return err
			}
		}
	}
	if follow {
		<-ctx.Done()
	}
	return nil
}

func TestEventsCommand(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	at := time.Date(2026, 3, 1, 2, 3, 4, 500e6, time.UTC)
	b := &logBackend{log: []api.Event{
		{Seq: 7, Time: at, Node: "node1", Type: api.EventAssembled, Array: "data", Fields: map[string]string{"token": "3"}},
		{Seq: 9, Time: at, Node: "node2", Type: api.EventMdcadm, Reason: "rc 0", Fields: map[string]string{"args": "--stop /dev/md0", "uid": "0"}},
	}}
	s := &api.Server{Backend: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: os.Getuid()}
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("TZ", "UTC")
	code, out, e := runCLI("events", "--socket", sock)
	want := "7 " + at.Local().Format("2006-01-02T15:04:05.000Z07:00") + " node1 array_assembled data token=3\n" +
		"9 " + at.Local().Format("2006-01-02T15:04:05.000Z07:00") + ` node2 mdcadm_action - "rc 0" args="--stop /dev/md0" uid=0` + "\n"
	if code != 0 || out != want {
		t.Fatalf("events: exit %d\n%s%s\nwant\n%s", code, out, e, want)
	}
	code, out, _ = runCLI("events", "--socket", sock, "--since", "7", "--json")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, `{"seq":9,`) {
		t.Fatalf("--since 7 --json: exit %d\n%s", code, out)
	}
	if code, _, e := runCLI("events", "--socket", sock, "--since", "-1"); code != 2 || !strings.Contains(e, "must not be negative") {
		t.Fatalf("negative --since: exit %d %s", code, e)
	}
	if code, _, e := runCLI("events", "--socket", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(e, "not running") {
		t.Fatalf("no agent: exit %d %s", code, e)
	}
}
