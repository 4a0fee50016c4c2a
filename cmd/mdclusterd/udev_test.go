package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUdevHelper: the properties the package's udev rule imports.
func TestUdevHelper(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mdclusterd.yaml")
	os.WriteFile(cfg, []byte(`arrays:
  - {uuid: fd4485b9:5882c440:166d447e:b3049159, name: data, mode: exclusive, devices: [/dev/vda]}
  - {uuid: 4e657744:69736b43:6f6e6669:726d0001, name: shared, mode: clustered, devices: [/dev/vdb]}
`), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"exclusive member (blkid's spelling)", []string{"udev", "member", "--config", cfg, "fd4485b9-5882-c440-166d-447eb3049159"}, "MDCLUSTER_ARRAY=data\nMDCLUSTER_MODE=exclusive\n"},
		{"clustered member", []string{"udev", "member", "--config", cfg, "4e657744-6973-6b43-6f6e-6669726d0001"}, "MDCLUSTER_ARRAY=shared\nMDCLUSTER_MODE=clustered\n"},
		{"another array", []string{"udev", "member", "--config", cfg, "00000000-0000-0000-0000-000000000001"}, ""},
		{"no configuration", []string{"udev", "member", "--config", filepath.Join(dir, "none"), "fd4485b9-5882-c440-166d-447eb3049159"}, ""},
		{"new disk, configured", []string{"udev", "new-disk", "--config", cfg}, "MDCLUSTER_CONFIRMS=1\n"},
		{"new disk, not configured", []string{"udev", "new-disk", "--config", filepath.Join(dir, "none")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := runCLI(tc.args...)
			if code != 0 || out != tc.out {
				t.Errorf("exit %d, output %q, want 0 and %q", code, out, tc.out)
			}
		})
	}
	// A file that exists but cannot be read keeps mdadm off every member, and says why.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("arrays: [\n"), 0o600)
	code, out, errOut := runCLI("udev", "member", "--config", bad, "fd4485b9-5882-c440-166d-447eb3049159")
	if code != 0 || !strings.Contains(out, "MDCLUSTER_MODE=exclusive") || !strings.Contains(errOut, "keeping mdadm off") {
		t.Errorf("unreadable configuration: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, _ := runCLI("udev", "member"); code != 2 {
		t.Errorf("udev member without an argument: exit %d, want 2", code)
	}
}

// TestDoctorBadConfig: the doctor names a configuration it cannot use, exits 1, and says so in
// JSON too.
func TestDoctorBadConfig(t *testing.T) {
	code, out, _ := runCLI("doctor", "--json", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if code != 1 || !strings.Contains(out, `"check": "config"`) || !strings.Contains(out, `"result": "FAIL"`) {
		t.Errorf("exit %d: %s", code, out)
	}
	if code, _, _ := runCLI("doctor", "extra"); code != 2 {
		t.Errorf("doctor with an argument: exit %d, want 2", code)
	}
}
