package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"mdcluster.dev/mdcluster/api"
)

// day2Agent is fakeAgent with the scrub and event endpoints.
type day2Agent struct {
	*fakeAgent
	mu       sync.Mutex
	scrubs   []api.ScrubRequest
	reports  []api.ReportRequest
	scrubRep api.ScrubReply
}

func (f *day2Agent) Scrub(_ context.Context, r api.ScrubRequest) (api.ScrubReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scrubs = append(f.scrubs, r)
	if h := f.held[r.Array+"/scrub"]; h != "" {
		return api.ScrubReply{}, &api.HeldError{Kind: api.KindResync, Array: r.Array, Holder: h}
	}
	return f.scrubRep, nil
}

func (f *day2Agent) Report(_ context.Context, r api.ReportRequest, _ api.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

func (f *day2Agent) Events(context.Context, int64, int, bool, func(api.Event) error) error {
	return nil
}

func day2Env(t *testing.T) (*day2Agent, *Env, *strings.Builder, string) {
	f := &day2Agent{fakeAgent: twoNodes(), scrubRep: api.ScrubReply{State: "running"}}
	env, errb, log := guardEnv(t, nil)
	env.Socket = filepath.Join(t.TempDir(), "api.sock")
	serveDay2(t, f, env.Socket)
	return f, env, errb, log
}

// --action=check on a managed array goes to the agent (a scrub under its leases), not to mdadm;
// the command is reported for the event log with its arguments, code and caller.
func TestActionScrubThroughAgent(t *testing.T) {
	f, env, errb, log := day2Env(t)
	f.status.Node = "node1"
	md := fakeMD(t, env, "md127", "11111111-2222-2222-3333-333344444444", "clustered")
	if rc := Run([]string{"--action=check", md}, env); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb)
	}
	if argv := mdadmArgv(t, log); argv != nil {
		t.Fatalf("mdadm ran: %q", argv)
	}
	if len(f.scrubs) != 1 || f.scrubs[0].Action != "check" || f.scrubs[0].Array != "11111111:22222222:33333333:44444444" {
		t.Fatalf("scrub requests %+v", f.scrubs)
	}
	if len(f.reports) != 1 || f.reports[0].Type != api.EventMdcadm || f.reports[0].Fields["args"] != "--action=check "+md ||
		f.reports[0].Fields["rc"] != "0" || f.reports[0].Reason != "done by mdclusterd" || f.reports[0].Array == "" {
		t.Fatalf("reports %+v", f.reports)
	}
	f.scrubRep = api.ScrubReply{State: "queued", Message: "every resync slot is busy"}
	errb.Reset()
	if rc := Run([]string{"--action=repair", md}, env); rc != 0 || !strings.Contains(errb.String(), "repair of mirror queued: every resync slot is busy") {
		t.Fatalf("queued: rc %d %q", rc, errb)
	}
	errb.Reset()
	if rc := Run([]string{"--action=frozen", md}, env); rc != 1 || !strings.Contains(errb.String(), "decides when it syncs") {
		t.Fatalf("frozen on a managed array: rc %d %q", rc, errb)
	}
	f.held["11111111:22222222:33333333:44444444/scrub"] = "node2"
	errb.Reset()
	if rc := Run([]string{"--action=idle", md}, env); rc != 1 || !strings.Contains(errb.String(), "scrubbed or run by node2") {
		t.Fatalf("held elsewhere: rc %d %q", rc, errb)
	}
}

// Unmanaged arrays: idle and frozen only stop a sync and run mdadm; check and repair are
// refused unless --no-cluster-guard; the agent down refuses a scrub.
func TestActionUnmanaged(t *testing.T) {
	_, env, errb, log := day2Env(t)
	md := fakeMD(t, env, "md5", "99999999-2222-2222-3333-333344444444", "internal")
	if rc := Run([]string{"--action=idle", md}, env); rc != 0 || !slices.Equal(mdadmArgv(t, log), []string{"--action=idle", md}) {
		t.Fatalf("idle: rc %d %q %q", rc, mdadmArgv(t, log), errb)
	}
	os.Remove(log)
	if rc := Run([]string{"--action=check", md}, env); rc != 1 || mdadmArgv(t, log) != nil || !strings.Contains(errb.String(), "not managed by mdclusterd") {
		t.Fatalf("check: rc %d %q", rc, errb)
	}
	if rc := Run([]string{"--no-cluster-guard", "--action=check", md}, env); rc != 0 || !slices.Equal(mdadmArgv(t, log), []string{"--action=check", md}) {
		t.Fatalf("unguarded: rc %d %q", rc, mdadmArgv(t, log))
	}
	env.Socket = filepath.Join(t.TempDir(), "none.sock")
	errb.Reset()
	if rc := Run([]string{"--action=repair", md}, env); rc != 1 || !strings.Contains(errb.String(), "does not answer") {
		t.Fatalf("agent down: rc %d %q", rc, errb)
	}
}

// Every guarded command is reported, refused or not.
func TestGuardedCommandsReported(t *testing.T) {
	f, env, errb, _ := day2Env(t)
	md := fakeMD(t, env, "md127", "fd4485b9-5882-c440-166d-447eb3049159", "internal")
	f.held[dataUUID+"/"+api.KindRecovery] = "node1"
	if rc := Run([]string{"--manage", md, "--add", "/dev/vdc"}, env); rc != 1 {
		t.Fatalf("rc %d %s", rc, errb)
	}
	if rc := Run([]string{"--stop", md}, env); rc != 0 {
		t.Fatalf("rc %d %s", rc, errb)
	}
	if len(f.reports) != 2 || f.reports[0].Reason != "refused" || f.reports[0].Fields["rc"] != "1" || f.reports[0].Array != dataUUID ||
		f.reports[1].Reason != "mdadm ran" || f.reports[1].Fields["mode"] != "misc" || f.reports[1].Fields["uid"] == "" {
		t.Fatalf("reports %+v", f.reports)
	}
}

func serveDay2(t *testing.T, f *day2Agent, sock string) {
	t.Helper()
	s := &api.Server{Backend: f, Log: discard(), AllowUID: os.Getuid()}
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
