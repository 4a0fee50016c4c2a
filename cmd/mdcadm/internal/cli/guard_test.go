package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"mdcluster.dev/mdcluster/api"
)

const dataUUID = "fd4485b9:5882c440:166d447e:b3049159"

// fakeAgent is an api.Backend that records every request.
type fakeAgent struct {
	mu       sync.Mutex
	status   api.Status
	held     map[string]string // "array/kind" -> holder
	acquired []string          // "array/kind"
	released []string
	// releaseErr fails every Release.
	releaseErr error
}

func (f *fakeAgent) Status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeAgent) Acquire(_ context.Context, r api.AcquireRequest) (api.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acquired = append(f.acquired, r.Array+"/"+r.Kind)
	if h := f.held[r.Array+"/"+r.Kind]; h != "" {
		return api.Grant{}, &api.HeldError{Kind: r.Kind, Array: r.Array, Holder: h}
	}
	return api.Grant{Array: r.Array, Kind: r.Kind, Token: 7}, nil
}

func (f *fakeAgent) Release(_ context.Context, r api.ReleaseRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, r.Array+"/"+r.Kind)
	return f.releaseErr
}

// guardEnv starts a fake agent and puts a fake mdadm in PATH that records
// its argv (one argument a line) and exits with $FAKE_MDADM_RC.
func guardEnv(t *testing.T, f *fakeAgent) (*Env, *strings.Builder, string) {
	t.Helper()
	env, _, _ := testEnv(t)
	var errb strings.Builder
	env.Stderr = &errb
	env.Mdadm = ""
	dir := t.TempDir()
	log := filepath.Join(dir, "argv")
	script := "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > " + log +
		"\necho \"$LD_LIBRARY_PATH|$MDCLUSTER_CLUSTER_NAME\" > " + log + ".env\nexit ${FAKE_MDADM_RC:-0}\n"
	if err := os.WriteFile(filepath.Join(dir, "mdadm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if f != nil {
		env.Socket = filepath.Join(dir, "api.sock")
		s := &api.Server{Backend: f, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: os.Getuid()}
		if err := s.Listen(env.Socket); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	env.AdminLock = func(context.Context, string) (func(), error) {
		t.Fatal("admin lock taken on an etcd cluster")
		return nil, nil
	}
	return env, &errb, log
}

// mdadmArgv returns what the fake mdadm was run with, or nil if it was not.
func mdadmArgv(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func twoNodes() *fakeAgent {
	return &fakeAgent{status: api.Status{Node: "node2", Cluster: "mdlab", Engine: "etcd-external",
		Members: []api.Member{{Name: "node1", ID: 1}, {Name: "node2", ID: 2}},
		Arrays: []api.ArrayStatus{{UUID: dataUUID, Name: "data", Mode: "exclusive", ActiveOn: "node1"},
			{UUID: "11111111:22222222:33333333:44444444", Name: "mirror", Mode: "clustered"}}},
		held: map[string]string{}}
}

// fakeMD makes /sys/block/<nm>/md with a uuid under env's root and
// returns a device path whose base name is nm.
func fakeMD(t *testing.T, env *Env, nm, uuid, bitmapMeta string) string {
	t.Helper()
	d := env.path("/sys/block/" + nm + "/md")
	if err := os.MkdirAll(filepath.Join(d, "bitmap"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "uuid"), []byte(uuid+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "bitmap", "metadata"), []byte(bitmapMeta+"\n"), 0o644)
	loc := "+8"
	if bitmapMeta == "" {
		loc = "none"
	}
	os.WriteFile(filepath.Join(d, "bitmap", "location"), []byte(loc+"\n"), 0o644)
	return filepath.Join(t.TempDir(), nm)
}

func TestAssembleRefusedNamesHolder(t *testing.T) {
	f := twoNodes()
	f.held[dataUUID+"/activation"] = "node1"
	env, errb, log := guardEnv(t, f)
	rc := Run([]string{"--assemble", "/dev/md/data", "--uuid=" + dataUUID, "/dev/vda", "/dev/vdb"}, env)
	if want := "mdcadm: array data is active on node1 (activation lease held); not assembling\n"; rc != 1 || errb.String() != want {
		t.Fatalf("rc %d, stderr %q; want 1, %q", rc, errb.String(), want)
	}
	if argv := mdadmArgv(t, log); argv != nil {
		t.Fatalf("mdadm ran with %q after a refusal", argv)
	}
	if diff := cmp.Diff([]string{dataUUID + "/activation"}, f.acquired); diff != "" {
		t.Errorf("acquired (-want +got):\n%s", diff)
	}
}

func TestLeasesPerMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     func(md string) []string
		rc       string // fake mdadm's exit code
		acquired []string
		released []string
	}{
		{"assemble", func(string) []string { return []string{"-A", "/dev/md/data", "-u", dataUUID, "--run"} }, "0",
			[]string{dataUUID + "/activation"}, nil},
		{"assemble fails", func(string) []string { return []string{"-A", "/dev/md/data", "-u", dataUUID} }, "1",
			[]string{dataUUID + "/activation"}, []string{dataUUID + "/activation"}},
		{"create", func(string) []string {
			return []string{"--create", "/dev/md/data", "--uuid=" + dataUUID, "-l5", "-n3", "missing", "missing", "missing"}
		}, "0", []string{dataUUID + "/activation"}, nil},
		{"clustered assemble takes no activation", func(string) []string {
			return []string{"--assemble", "/dev/md/mirror", "--uuid", "11111111:22222222:33333333:44444444"}
		}, "0", nil, nil},
		{"add", func(md string) []string { return []string{md, "--add", "/dev/vdc"} }, "0",
			[]string{dataUUID + "/recovery"}, nil},
		{"re-add fails", func(md string) []string { return []string{"--manage", md, "--re-add", "/dev/vdc"} }, "1",
			[]string{dataUUID + "/recovery"}, []string{dataUUID + "/recovery"}},
		{"fail and remove", func(md string) []string { return []string{md, "--fail", "/dev/vdc", "--remove", "/dev/vdc"} }, "0", nil, nil},
		{"grow", func(md string) []string { return []string{"--grow", md, "--raid-devices=4"} }, "0",
			[]string{dataUUID + "/admin"}, []string{dataUUID + "/admin"}},
		{"run", func(md string) []string { return []string{"--run", md} }, "0", []string{dataUUID + "/activation"}, nil},
		{"assemble --scan by name", func(string) []string { return []string{"-As", "/dev/md/data"} }, "0",
			[]string{dataUUID + "/activation"}, nil},
		{"readwrite", func(md string) []string { return []string{"--readwrite", md} }, "0", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := twoNodes()
			env, errb, log := guardEnv(t, f)
			t.Setenv("FAKE_MDADM_RC", tc.rc)
			args := tc.args(fakeMD(t, env, "md127", "fd4485b9-5882-c440-166d-447eb3049159", "internal"))
			rc := Run(args, env)
			if want := map[string]int{"0": 0, "1": 1}[tc.rc]; rc != want {
				t.Fatalf("rc %d, want %d; stderr %q", rc, want, errb.String())
			}
			if diff := cmp.Diff(args, mdadmArgv(t, log)); diff != "" {
				t.Errorf("mdadm argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.acquired, f.acquired); diff != "" {
				t.Errorf("acquired (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.released, f.released); diff != "" {
				t.Errorf("released (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecoveryHeldElsewhere(t *testing.T) {
	f := twoNodes()
	f.held[dataUUID+"/recovery"] = "node1"
	env, errb, log := guardEnv(t, f)
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	rc := Run([]string{md, "--add", "/dev/vdc"}, env)
	if want := "mdcadm: array data: recovery lease held by node1; not adding\n"; rc != 1 || errb.String() != want {
		t.Fatalf("rc %d, stderr %q; want 1, %q", rc, errb.String(), want)
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran after a refusal")
	}
}

func TestAgentDown(t *testing.T) {
	env, errb, log := guardEnv(t, nil)
	rc := Run([]string{"-A", "/dev/md/data", "-u", dataUUID}, env)
	if rc != 1 || !strings.HasPrefix(errb.String(), "mdcadm: mdclusterd does not answer on "+env.Socket+" (not running); not assembling\n") {
		t.Fatalf("rc %d, stderr %q", rc, errb.String())
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran without the agent")
	}
	// Stopping only makes this node do less: it runs without the agent.
	errb.Reset()
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	if rc := Run([]string{"--stop", md}, env); rc != 0 {
		t.Fatalf("--stop without agent: rc %d, %s", rc, errb.String())
	}
	if diff := cmp.Diff([]string{"--stop", md}, mdadmArgv(t, log)); diff != "" {
		t.Errorf("mdadm argv (-want +got):\n%s", diff)
	}
}

func TestUnmanagedNeedsFlag(t *testing.T) {
	f := twoNodes()
	env, errb, log := guardEnv(t, f)
	other := "aaaaaaaa:bbbbbbbb:cccccccc:dddddddd"
	rc := Run([]string{"-A", "/dev/md0", "-u", other}, env)
	want := "mdcadm: array " + other + " (--uuid) is not managed by mdclusterd on node2; pass --no-cluster-guard to run mdadm on it unguarded; not assembling\n"
	if rc != 1 || errb.String() != want {
		t.Fatalf("rc %d, stderr %q; want %q", rc, errb.String(), want)
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran on an unmanaged array")
	}
	if rc := Run([]string{"-A", "--no-cluster-guard", "/dev/md0", "-u", other}, env); rc != 0 {
		t.Fatalf("--no-cluster-guard: rc %d", rc)
	}
	if diff := cmp.Diff([]string{"-A", "/dev/md0", "-u", other}, mdadmArgv(t, log)); diff != "" {
		t.Errorf("mdadm argv (-want +got):\n%s", diff)
	}
	if len(f.acquired) != 0 {
		t.Errorf("leases asked with --no-cluster-guard: %v", f.acquired)
	}
}

func TestUsageRefusals(t *testing.T) {
	f := twoNodes()
	env, errb, log := guardEnv(t, f)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--assemble", "--scan"}, "mdcadm: cannot tell which array this is: give --uuid, --name or member devices (or pass --no-cluster-guard); not assembling\n"},
		{[]string{"--assemble", "--scan", "/dev/md0"}, "mdcadm: cannot tell which array /dev/md0 is: give --uuid, or name it /dev/md/NAME (or pass --no-cluster-guard); not assembling\n"},
		{[]string{"--create", "/dev/md/data", "-l5", "-n3", "missing", "missing", "missing"}, "mdcadm: array data is managed with UUID " + dataUUID + ": give --uuid=" + dataUUID + "; not creating\n"},
		{[]string{"--no-cluster-guard", "-D", "/dev/md0"}, "mdcadm: --no-cluster-guard applies only to modes that change arrays\n"},
	} {
		errb.Reset()
		if rc := Run(tc.args, env); rc != 2 || errb.String() != tc.want {
			t.Errorf("%q: rc %d, stderr %q; want 2, %q", tc.args, rc, errb.String(), tc.want)
		}
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran after a usage error")
	}
}

func TestStopHandsBackActivation(t *testing.T) {
	f := twoNodes()
	f.status.Arrays[0].ActiveOn, f.status.Arrays[0].Device = "node2", "md127"
	f.status.Leases = []api.Lease{{Array: "data", Kind: api.KindActivation, Holder: "node2", Token: 9}}
	env, errb, log := guardEnv(t, f)
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	if rc := Run([]string{"--stop", md}, env); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	if diff := cmp.Diff([]string{"--stop", md}, mdadmArgv(t, log)); diff != "" {
		t.Errorf("mdadm argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dataUUID + "/activation"}, f.released); diff != "" || len(f.acquired) != 0 {
		t.Errorf("acquired %v, released (-want +got):\n%s", f.acquired, diff)
	}
}

func TestKernelDLMAdminLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		meta   string // the md device's bitmap metadata
		args   func(md string) []string
		locked bool
	}{
		{"assemble", "internal", func(string) []string { return []string{"-A", "/dev/md/data", "-u", dataUUID} }, true},
		{"grow exclusive", "internal", func(md string) []string { return []string{"-G", md, "-n4"} }, true},
		{"grow clustered: mdadm locks", "clustered", func(md string) []string { return []string{"-G", md, "-n4"} }, false},
		{"add clustered: mdadm locks", "clustered", func(md string) []string { return []string{md, "-a", "/dev/vdc"} }, false},
		{"cluster-confirm: mdadm does not lock", "clustered", func(md string) []string { return []string{md, "--cluster-confirm", "2:/dev/vdc"} }, true},
		{"create clustered: mdadm locks", "", func(string) []string {
			return []string{"-C", "/dev/md/data", "-u", dataUUID, "-l1", "-n2", "--bitmap=clustered", "missing", "missing"}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := twoNodes()
			f.status.Engine = "kernel-dlm"
			env, errb, log := guardEnv(t, f)
			var events []string
			env.AdminLock = func(_ context.Context, cluster string) (func(), error) {
				if mdadmArgv(t, log) != nil {
					t.Error("admin lock taken after mdadm ran")
				}
				events = append(events, "lock "+cluster)
				return func() { events = append(events, "unlock") }, nil
			}
			args := tc.args(fakeMD(t, env, "md127", dataUUID, tc.meta))
			if rc := Run(args, env); rc != 0 {
				t.Fatalf("rc %d: %s", rc, errb.String())
			}
			var want []string
			if tc.locked {
				want = []string{"lock mdlab", "unlock"}
			}
			if diff := cmp.Diff(want, events); diff != "" {
				t.Errorf("admin lock (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKernelDLMAdminLockBusy(t *testing.T) {
	f := twoNodes()
	f.status.Engine = "kernel-dlm"
	env, errb, log := guardEnv(t, f)
	env.AdminLock = func(context.Context, string) (func(), error) {
		return nil, errors.New("mdadm's admin lock bitmapmdlab in lockspace mdlab is held by another mdadm (waited 10s)")
	}
	rc := Run([]string{"-A", "/dev/md/data", "-u", dataUUID}, env)
	want := "mdcadm: mdadm's admin lock bitmapmdlab in lockspace mdlab is held by another mdadm (waited 10s); not assembling\n"
	if rc != 1 || errb.String() != want {
		t.Fatalf("rc %d, stderr %q; want %q", rc, errb.String(), want)
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran without the admin lock")
	}
	if diff := cmp.Diff([]string{dataUUID + "/activation"}, f.released); diff != "" {
		t.Errorf("the fresh activation lease was not given back (-want +got):\n%s", diff)
	}
}

// TestMembersIdentifyArray finds the array by a member's superblock.
func TestMembersIdentifyArray(t *testing.T) {
	f := twoNodes()
	env, errb, log := guardEnv(t, f)
	img := filepath.Join(t.TempDir(), "vda.img")
	gunzipTo(t, filepath.Join("..", "..", "..", "..", "bitmap", "testdata", "images", "raid5-1.2-bitmap", "vda.img.gz"), img)
	u, err := superUUID(img)
	if err != nil {
		t.Fatal(err)
	}
	f.status.Arrays[0].UUID = u
	f.held[u+"/activation"] = "node1"
	if rc := Run([]string{"--assemble", "/dev/md0", img}, env); rc != 1 || errb.String() != "mdcadm: array data is active on node1 (activation lease held); not assembling\n" {
		t.Fatalf("rc %d, stderr %q", rc, errb.String())
	}
	errb.Reset()
	if rc := Run([]string{"--incremental", img}, env); rc != 1 || !strings.Contains(errb.String(), "active on node1") {
		t.Fatalf("incremental: rc %d, stderr %q", rc, errb.String())
	}
	if mdadmArgv(t, log) != nil {
		t.Fatal("mdadm ran after a refusal")
	}
}

// TestStopReassembledByAgent: an agent that keeps the lease (it ran the
// array again) makes --stop fail with one line.
func TestStopReassembledByAgent(t *testing.T) {
	f := twoNodes()
	f.status.Arrays[0].ActiveOn, f.status.Arrays[0].Device = "node2", "md127"
	f.releaseErr = &api.BadRequest{Msg: "array: data still runs as md127 here; stop it first"}
	env, errb, _ := guardEnv(t, f)
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	rc := Run([]string{"--stop", md}, env)
	want := "mdcadm: array data was stopped, but mdclusterd kept its activation lease: array: data still runs as md127 here; stop it first\n"
	if rc != 1 || errb.String() != want {
		t.Fatalf("rc %d, stderr %q; want 1, %q", rc, errb.String(), want)
	}
}

// TestCmapShim: where the agent's status says it runs the kernel DLM's
// control plane (dlm_control mdclusterd), the mdadm run for create,
// manage and grow gets the libcmap shim with the agent's cluster name;
// assemble and other clusters do not. mdcadm reads no configuration file.
func TestCmapShim(t *testing.T) {
	for _, tc := range []struct {
		name, control string
		noGuard       bool
		args          func(md string) []string
		want          string
	}{
		{"grow, mdclusterd control", "mdclusterd", false, func(md string) []string { return []string{"-G", md, "-n4"} }, "SHIM|mdlab"},
		{"add, mdclusterd control", "mdclusterd", false, func(md string) []string { return []string{md, "-a", "/dev/vdc"} }, "SHIM|mdlab"},
		{"grow unguarded, mdclusterd control", "mdclusterd", true, func(md string) []string { return []string{"-G", md, "-n4"} }, "SHIM|mdlab"},
		{"assemble, mdclusterd control", "mdclusterd", false, func(string) []string { return []string{"-A", "/dev/md/data", "-u", dataUUID} }, "|"},
		{"grow, corosync", "external", false, func(md string) []string { return []string{"-G", md, "-n4"} }, "|"},
		{"grow, agent too old to say", "", false, func(md string) []string { return []string{"-G", md, "-n4"} }, "|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LD_LIBRARY_PATH", "")
			f := twoNodes()
			f.status.DLMControl = tc.control
			env, errb, log := guardEnv(t, f)
			env.ShimDir = filepath.Join(t.TempDir(), "shim")
			os.MkdirAll(env.ShimDir, 0o755)
			os.WriteFile(filepath.Join(env.ShimDir, "libcmap.so.4"), nil, 0o644)
			args := tc.args(fakeMD(t, env, "md127", dataUUID, "internal"))
			if tc.noGuard {
				args = append([]string{"--no-cluster-guard"}, args...)
			}
			if rc := Run(args, env); rc != 0 {
				t.Fatalf("rc %d: %s", rc, errb.String())
			}
			b, err := os.ReadFile(log + ".env")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Replace(strings.TrimSpace(string(b)), env.ShimDir, "SHIM", 1)
			if got != tc.want {
				t.Errorf("mdadm's LD_LIBRARY_PATH|MDCLUSTER_CLUSTER_NAME = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAgentSocket: --agent-socket=PATH, else $MDCLUSTER_SOCKET, else the
// default names the agent's socket; a guarded mode refuses with one line
// naming the socket when nothing answers there.
func TestAgentSocket(t *testing.T) {
	f := twoNodes()
	env, errb, log := guardEnv(t, f)
	good := env.Socket
	env.Socket = filepath.Join(t.TempDir(), "nothing.sock")
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	if rc := Run([]string{"--agent-socket=" + good, "--grow", md, "-n4"}, env); rc != 0 || mdadmArgv(t, log) == nil {
		t.Fatalf("--agent-socket: rc %d, stderr %q", rc, errb.String())
	}
	errb.Reset()
	env.Socket = filepath.Join(t.TempDir(), "nothing.sock")
	rc := Run([]string{"--grow", md, "-n4"}, env)
	if want := "mdcadm: mdclusterd does not answer on " + env.Socket + " (not running); not growing\n"; rc != 1 || errb.String() != want {
		t.Errorf("rc %d, stderr %q; want 1, %q", rc, errb.String(), want)
	}
	t.Setenv(SocketEnv, good)
	if got := DefaultEnv().Socket; got != good {
		t.Errorf("DefaultEnv().Socket = %q with $%s set, want %q", got, SocketEnv, good)
	}
	t.Setenv(SocketEnv, "")
	if got := DefaultEnv().Socket; got != DefaultSocket {
		t.Errorf("DefaultEnv().Socket = %q, want %q", got, DefaultSocket)
	}
	errb.Reset()
	if rc := Run([]string{"--agent-socket", "--grow", md}, env); rc != 2 || !strings.Contains(errb.String(), "--agent-socket=PATH") {
		t.Errorf("--agent-socket without a path: rc %d, stderr %q", rc, errb.String())
	}
}
