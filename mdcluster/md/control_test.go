//go:build !vmguest

package md

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestControls writes through every control into an unpacked capture (plain files stand in for
// the sysfs attributes) and checks the text each one wrote.
func TestControls(t *testing.T) {
	fs := loadCapture(t, "raid1-bitmap")
	md := filepath.Join(fs.root, "sys/block/md0/md")
	for _, tt := range []struct {
		name string
		do   func() error
		file string
		want string
	}{
		{"freeze", func() error { return fs.SetSyncAction("md0", SyncFrozen) }, "sync_action", "frozen"},
		{"check", func() error { return fs.SetSyncAction("md0", SyncCheck) }, "sync_action", "check"},
		{"sync_min", func() error { return fs.SetSyncMin("md0", 2048) }, "sync_min", "2048"},
		{"sync_max", func() error { return fs.SetSyncMax("md0", 65536) }, "sync_max", "65536"},
		{"sync_max unlimited", func() error { return fs.SetSyncMax("md0", NoSyncMax) }, "sync_max", "max"},
		{"speed min", func() error { return fs.SetSyncSpeedMin("md0", 5000) }, "sync_speed_min", "5000"},
		{"speed max system", func() error { return fs.SetSyncSpeedMax("md0", 0) }, "sync_speed_max", "system"},
		{"fail member", func() error { return fs.SetMemberState("md0", "vdb", MemberSetFaulty) }, "dev-vdb/state", "faulty"},
		{"unblock member", func() error { return fs.SetMemberState("md0", "vdb", MemberUnblock) }, "dev-vdb/state", "-blocked"},
		{"readonly", func() error { return fs.SetArrayState("md0", ArrayReadonly) }, "array_state", "readonly"},
		{"stop", func() error { return fs.Stop("md0") }, "array_state", "clear"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(md, tt.file), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(md, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("%s holds %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

func TestControlErrors(t *testing.T) {
	fs := loadCapture(t, "raid1-bitmap")
	if err := fs.SetSyncAction("md9", SyncIdle); !errors.Is(err, ErrNoArray) {
		t.Errorf("missing array: got %v, want ErrNoArray", err)
	}
	if err := fs.SetMemberState("md0", "../md0", MemberRemove); err == nil {
		t.Error("member name with a slash: no error")
	}
	err := fs.SetMemberState("md0", "vdz", MemberRemove)
	if !errors.Is(err, ErrWrite) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing member: got %v, want ErrWrite wrapping ErrNotExist", err)
	}
	const want = `md: md0: write "remove" to dev-vdz/state: `
	if err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestSystemSpeedLimits(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "proc/sys/dev/raid")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"speed_limit_min", "speed_limit_max"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.SetSystemSpeedLimits(1000, 200000); err != nil {
		t.Fatal(err)
	}
	min, max, err := fs.SystemSpeedLimits()
	if err != nil || min != 1000 || max != 200000 {
		t.Errorf("SystemSpeedLimits() = %d, %d, %v; want 1000, 200000", min, max, err)
	}
}
