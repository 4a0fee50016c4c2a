package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/mdcluster/md/mdtest"
)

// The decisions are tested over md's sysfs as the lab's kernel showed it: testMD is the real
// md.FS rooted at a directory holding captured trees (mdcluster/md/testdata). What it adds is
// the least of the kernel's behaviour the tests need, each noted where it is: a stopped array's
// directory goes away, a written attribute reads back as written, a busy array refuses to stop.
type testMD struct {
	fs   md.FS
	root string

	mu      sync.Mutex
	busy    map[string]bool // md refuses to stop these (open, mounted): EBUSY
	readErr error           // Arrays fails with it
	writes  []string        // "md1 sync_action frozen", "md1 stop", in order
	onStop  func()          // runs at every stop, before md answers
}

func newTestMD(t *testing.T) *testMD {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sys", "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	fs, err := md.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return &testMD{fs: fs, root: root, busy: map[string]bool{}}
}

// load puts a captured array in place, as if md ran it (mdadm assembled it). The array's
// directory appears at once (a rename), as the kernel's does: a pass reading meanwhile sees the
// whole array or none of it.
func (m *testMD) load(t testing.TB, capture string) {
	t.Helper()
	stage := filepath.Join(m.root, ".stage-"+capture)
	mdtest.Unpack(t, mdtest.Path(capture), stage)
	ents, err := os.ReadDir(filepath.Join(stage, "sys", "block"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		dst := filepath.Join(m.root, "sys", "block", e.Name())
		_ = os.RemoveAll(dst)
		if err := os.Rename(filepath.Join(stage, "sys", "block", e.Name()), dst); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.RemoveAll(stage)
}

// set writes an attribute as the kernel would show it.
func (m *testMD) set(t testing.TB, array, attr, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.root, "sys", "block", array, "md", attr), []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *testMD) present(array string) bool {
	_, err := os.Stat(filepath.Join(m.root, "sys", "block", array))
	return err == nil
}

func (m *testMD) Arrays() ([]md.Array, error) {
	m.mu.Lock()
	err := m.readErr
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return m.fs.Arrays()
}

func (m *testMD) record(w string) {
	m.mu.Lock()
	m.writes = append(m.writes, w)
	m.mu.Unlock()
}

func (m *testMD) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.writes)
}

// rewrite makes an attribute read back what was written (a regular file does not truncate).
func (m *testMD) rewrite(array, attr, value string) {
	_ = os.WriteFile(filepath.Join(m.root, "sys", "block", array, "md", attr), []byte(value+"\n"), 0o644)
}

func (m *testMD) SetSyncAction(array string, a md.SyncAction) error {
	m.record(array + " sync_action " + string(a))
	if err := m.fs.SetSyncAction(array, a); err != nil {
		return err
	}
	m.rewrite(array, "sync_action", string(a))
	return nil
}

func (m *testMD) SetArrayState(array string, s md.ArrayState) error {
	m.record(array + " array_state " + string(s))
	if err := m.fs.SetArrayState(array, s); err != nil {
		return err
	}
	m.rewrite(array, "array_state", string(s))
	return nil
}

// Stop writes "clear" as md.FS does; the kernel then removes the array (its directory goes).
func (m *testMD) Stop(array string) error {
	m.record(array + " stop")
	m.mu.Lock()
	busy, hook := m.busy[array], m.onStop
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	if busy {
		return fmt.Errorf("md: %s: write \"clear\" to array_state: %w", array, syscall.EBUSY)
	}
	if err := m.fs.Stop(array); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(m.root, "sys", "block", array))
}

// fakeMdadm stands for mdadm --assemble: it puts the array's capture in place, started
// read-only as --readonly asks. It records every command line.
type fakeMdadm struct {
	md       *testMD
	t        testing.TB
	captures map[string]string // --uuid value → capture name
	mu       sync.Mutex
	calls    []string
	fail     error
	// block, when set, is closed by the test to let a call return.
	block chan struct{}
}

func (f *fakeMdadm) Run(ctx context.Context, args ...string) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, strings.Join(args, " "))
	fail, block := f.fail, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if len(args) == 0 || args[0] != "--assemble" {
		return nil, errors.New("fake mdadm: only --assemble")
	}
	for _, a := range args {
		if uuid, ok := strings.CutPrefix(a, "--uuid="); ok {
			capture := f.captures[uuid]
			if capture == "" {
				return nil, fmt.Errorf("mdadm: no devices found for %s", uuid)
			}
			f.md.load(f.t, capture)
			name := captureArray(f.t, capture)
			if slices.Contains(args, "--readonly") {
				f.md.rewrite(name, "array_state", "readonly")
			}
			return nil, nil
		}
	}
	return nil, errors.New("fake mdadm: no --uuid")
}

func (f *fakeMdadm) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// captureArray is the md name in a capture.
func captureArray(t testing.TB, capture string) string {
	t.Helper()
	b, err := os.ReadFile(mdtest.Path(capture))
	if err != nil {
		t.Fatal(err)
	}
	files, err := mdtest.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for p := range files {
		if rest, ok := strings.CutPrefix(p, "sys/block/"); ok {
			return strings.SplitN(rest, "/", 2)[0]
		}
	}
	t.Fatalf("%s: no array", capture)
	return ""
}

// The captured arrays the tests manage.
var (
	raid5 = config.Array{UUID: "a5000000:00000000:00000000:00000002", Name: "data", Mode: config.ModeExclusive,
		Devices: []string{"/dev/vda", "/dev/vdb", "/dev/vdc"}}
	raid1 = config.Array{UUID: "a1000000:00000000:00000000:00000001", Name: "mirror", Mode: config.ModeExclusive,
		Devices: []string{"/dev/vda", "/dev/vdb"}}
	raid1Frozen = config.Array{UUID: "a1000000:00000000:00000000:00000006", Name: "frozen", Mode: config.ModeExclusive,
		Devices: []string{"/dev/vda", "/dev/vdb"}}
	raid10 = config.Array{UUID: "a1000000:00000000:00000000:00000003", Name: "shared", Mode: config.ModeClustered,
		Devices: []string{"/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd"}}
	captureOf = map[string]string{raid5.UUID: "raid5-nobitmap", raid1.UUID: "raid1-bitmap",
		raid1Frozen.UUID: "raid1-frozen", raid10.UUID: "raid10"}
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLog logs to the test when MDCLUSTER_TEST_LOG is set.
func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("MDCLUSTER_TEST_LOG") == "" {
		return discardLog()
	}
	return slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tw struct{ t *testing.T }

func (w tw) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }
