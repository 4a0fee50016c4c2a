//go:build ocf

// Host tests of the OCF agent (make test-ocf). They need Debian's resource-agents package
// (ocf-tester, ra-api-1.dtd) and xmllint; this host has no md driver, so md's sysfs and mdstat are
// fake trees here, and ocf-tester's start/stop cycle runs in a lab guest (TestOCFTester, VM suite).
package ocf

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const uuid = "fd4485b9:5882c440:166d447e:b3049159"

func agentPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("mdcluster")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs the agent with action and env (on top of a clean OCF environment) and returns its exit
// code and combined output.
func run(t *testing.T, action string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(agentPath(t), action)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=t"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("run agent %s: %v", action, err)
	}
	return 0, string(out)
}

func TestMetaDataValidatesAgainstDTD(t *testing.T) {
	dtd := "/usr/share/resource-agents/ra-api-1.dtd"
	if _, err := os.Stat(dtd); err != nil {
		t.Fatalf("%v: install resource-agents (scripts/vm/setup-host.sh does)", err)
	}
	rc, md := run(t, "meta-data")
	if rc != 0 {
		t.Fatalf("meta-data: rc %d\n%s", rc, md)
	}
	lint := exec.Command("xmllint", "--noout", "--valid", "-")
	lint.Dir = filepath.Dir(dtd)
	lint.Stdin = strings.NewReader(md)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("xmllint --valid (ra-api-1.dtd): %v\n%s", err, out)
	}
	for _, p := range []string{"uuid", "md_dev", "mdadm_conf", "mdadm_cmd", "socket", "force_stop", "wait_for_udev"} {
		if !strings.Contains(md, `<parameter name="`+p+`"`) {
			t.Errorf("meta-data lacks parameter %s", p)
		}
	}
	for _, a := range []string{"start", "stop", "monitor", "validate-all", "meta-data"} {
		if !strings.Contains(md, `<action name="`+a+`"`) {
			t.Errorf("meta-data lacks action %s", a)
		}
	}
	if !strings.Contains(md, `depth="10"`) {
		t.Error("meta-data lacks the depth-10 monitor")
	}
}

func TestUsageAndValidation(t *testing.T) {
	for _, tc := range []struct {
		name, action string
		env          []string
		rc           int
		out          string
	}{
		{"no action is a usage error", "", nil, 2, "usage:"},
		{"promote is not implemented", "promote", []string{"OCF_RESKEY_uuid=" + uuid}, 3, "usage:"},
		{"uuid required", "validate-all", nil, 6, "ocf-exit-reason:parameter uuid is required"},
		{"bad uuid", "validate-all", []string{"OCF_RESKEY_uuid=1234"}, 6, "want 32 hex digits"},
		{"bad md_dev", "validate-all", []string{"OCF_RESKEY_uuid=" + uuid, "OCF_RESKEY_md_dev=/dev/sda"}, 6, "md_dev /dev/sda"},
		{"bad mdadm_cmd", "validate-all", []string{"OCF_RESKEY_uuid=" + uuid, "OCF_RESKEY_mdadm_cmd=rm"}, 6, "mdadm_cmd rm"},
		{"bad boolean", "validate-all", []string{"OCF_RESKEY_uuid=" + uuid, "OCF_RESKEY_force_stop=maybe"}, 6, "force_stop maybe"},
		{"missing command", "validate-all", []string{"OCF_RESKEY_uuid=" + uuid, "OCF_RESKEY_mdadm_cmd=/nonexistent/mdadm"}, 5, "not found"},
		{"probe without the command is not running", "monitor", []string{"OCF_RESKEY_uuid=" + uuid, "OCF_RESKEY_mdadm_cmd=/nonexistent/mdadm", "OCF_RESKEY_CRM_meta_interval=0"}, 7, ""},
		{"stop of an unidentifiable array succeeds", "stop", []string{"OCF_RESKEY_uuid=xyz"}, 0, ""},
		{"valid (UUID in sysfs notation)", "validate-all", []string{"OCF_RESKEY_uuid=FD4485B9-5882-C440-166D-447EB3049159"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, out := run(t, tc.action, tc.env...)
			if rc != tc.rc || !strings.Contains(out, tc.out) {
				t.Errorf("%s: rc %d, want %d; output %q, want it to contain %q", tc.action, rc, tc.rc, out, tc.out)
			}
		})
	}
}

// fakeMD builds a sysfs and proc tree holding one md array md127 with the given attributes.
func fakeMD(t *testing.T, arrayUUID string, attrs map[string]string) []string {
	t.Helper()
	root := t.TempDir()
	sys, proc := filepath.Join(root, "sys"), filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "mdstat"), []byte("Personalities : [raid1]\nunused devices: <none>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if arrayUUID != "" {
		attrs["uuid"] = arrayUUID
		for k, v := range attrs {
			p := filepath.Join(sys, "block/md127/md", k)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []string{"MDCLUSTER_OCF_SYSFS=" + sys, "MDCLUSTER_OCF_PROC=" + proc, "OCF_RESKEY_uuid=" + uuid}
}

// TestMonitorStates feeds the agent md sysfs trees as the kernel lays them out (md's uuid
// attribute is in %pU form) and checks the OCF code of each state.
func TestMonitorStates(t *testing.T) {
	const sysUUID = "fd4485b9-5882-c440-166d-447eb3049159"
	clean := func() map[string]string {
		return map[string]string{"array_state": "clean", "degraded": "0", "bitmap/location": "+8", "bitmap/metadata": "internal"}
	}
	with := func(k, v string) map[string]string { m := clean(); m[k] = v; return m }
	clone := "OCF_RESKEY_CRM_meta_clone_max=2"
	for _, tc := range []struct {
		name   string
		uuid   string
		attrs  map[string]string
		action string
		extra  []string
		rc     int
	}{
		{"no md array at all", "", nil, "monitor", nil, 7},
		{"another array only", "00000000-0000-0000-0000-000000000001", clean(), "monitor", nil, 7},
		{"clean", sysUUID, clean(), "monitor", nil, 0},
		{"active", sysUUID, with("array_state", "active"), "monitor", nil, 0},
		{"degraded still runs", sysUUID, with("degraded", "1"), "monitor", nil, 0},
		{"inactive is a failure", sysUUID, with("array_state", "inactive"), "monitor", nil, 1},
		{"broken is a failure", sysUUID, with("array_state", "broken"), "monitor", nil, 1},
		{"cleared is stopped", sysUUID, with("array_state", "clear"), "monitor", nil, 7},
		{"cloned internal bitmap", sysUUID, clean(), "monitor", []string{clone}, 6},
		{"cloned internal bitmap, validate", sysUUID, clean(), "validate-all", []string{clone}, 6},
		{"cloned without a bitmap", sysUUID, with("bitmap/location", "none"), "validate-all", []string{clone}, 6},
		{"cloned clustered bitmap", sysUUID, with("bitmap/metadata", "clustered"), "monitor", []string{clone}, 0},
		{"clone-max 1 is not a clone", sysUUID, clean(), "monitor", []string{"OCF_RESKEY_CRM_meta_clone_max=1"}, 0},
		{"start of a running array", sysUUID, clean(), "start", nil, 0},
		{"start cloned with an internal bitmap", sysUUID, clean(), "start", []string{clone}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(fakeMD(t, tc.uuid, tc.attrs), tc.extra...)
			if rc, out := run(t, tc.action, env...); rc != tc.rc {
				t.Errorf("%s: rc %d, want %d\n%s", tc.action, rc, tc.rc, out)
			}
		})
	}
}

// TestOCFTesterOnHost runs Debian's ocf-tester against the agent for an array that does not
// exist. It gets as far as start: meta-data (as nobody too), validate-all, monitor and the probe
// must pass, and start must fail for the one right reason: without md on this host (the usual
// case here) OCF_ERR_INSTALLED, 5, naming the missing driver; with md, OCF_ERR_GENERIC, 1, because
// mdadm finds no such array. The whole cycle runs in a lab guest (TestOCFAgent).
func TestOCFTesterOnHost(t *testing.T) {
	tester, err := exec.LookPath("ocf-tester")
	if err != nil {
		t.Fatalf("%v: install resource-agents (scripts/vm/setup-host.sh does)", err)
	}
	const missing = "00000000:00000000:00000000:0000abcd"
	out, err := exec.Command(tester, "-v", "-n", "t", "-o", "uuid="+missing, agentPath(t)).CombinedOutput()
	text := string(out)
	t.Log(text)
	if err == nil {
		t.Fatal("ocf-tester passed, so the agent started an array that does not exist")
	}
	var failures []string
	for _, ln := range strings.Split(text, "\n") {
		if strings.HasPrefix(ln, "* rc=") {
			failures = append(failures, ln)
		}
	}
	want, reason := "* rc=5: Start failed.  Did you supply enough options with -o ?", "ocf-exit-reason:the md driver is not available"
	if _, err := os.Stat("/proc/mdstat"); err == nil {
		want, reason = "* rc=1: Start failed.  Did you supply enough options with -o ?", "ocf-exit-reason:mdadm --assemble"
	}
	if len(failures) != 1 || failures[0] != want {
		t.Fatalf("ocf-tester failures %q, want only %q", failures, want)
	}
	if !strings.Contains(text, reason) {
		t.Errorf("start gave no exit reason %q", reason)
	}
}

// TestCommandChoice checks mdadm_cmd=auto: mdcadm (mdcluster's lease-guarded front end) when
// mdclusterd's socket exists and mdcadm is installed, mdadm otherwise, and an explicit choice wins.
func TestCommandChoice(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// Stand-ins that record how they were called and fail, so start stops right after.
	for _, name := range []string{"mdadm", "mdcadm"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> " + filepath.Join(dir, "calls") + "\necho '" + name + ": no devices found' >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "mdclusterd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"auto with the agent's socket", []string{"OCF_RESKEY_socket=" + sock}, "mdcadm --assemble --scan --uuid=" + uuid},
		{"auto without it", []string{"OCF_RESKEY_socket=" + filepath.Join(dir, "none")}, "mdadm --assemble --scan --uuid=" + uuid},
		{"explicit mdadm", []string{"OCF_RESKEY_socket=" + sock, "OCF_RESKEY_mdadm_cmd=mdadm"}, "mdadm --assemble --scan --uuid=" + uuid},
		{"md_dev", []string{"OCF_RESKEY_socket=" + sock, "OCF_RESKEY_md_dev=/dev/md/data", "OCF_RESKEY_mdadm_conf=/nonexistent"}, "mdcadm --assemble /dev/md/data --uuid=" + uuid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "calls"))
			env := append(fakeMD(t, "", nil), "PATH="+bin+":"+os.Getenv("PATH"))
			rc, out := run(t, "start", append(env, tc.env...)...)
			if rc != 1 || !strings.Contains(out, "ocf-exit-reason:") || !strings.Contains(out, "no devices found") {
				t.Errorf("start: rc %d, want 1 with the command's error as exit reason\n%s", rc, out)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
			var assemble string
			for _, c := range strings.Split(string(calls), "\n") {
				if strings.Contains(c, "--assemble") {
					assemble = strings.TrimSuffix(c, " --config=/etc/mdadm/mdadm.conf")
				}
			}
			if assemble != tc.want {
				t.Errorf("assembled with %q, want %q (calls:\n%s)", assemble, tc.want, calls)
			}
		})
	}
}
