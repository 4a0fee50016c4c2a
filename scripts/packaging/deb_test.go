//go:build packaging

// Tests of the Debian package (make test-packaging builds it and sets MDCLUSTER_DEB): what
// dpkg-deb lists, and a real `dpkg --root` install, remove and purge in a scratch root.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func deb(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MDCLUSTER_DEB")
	if p == "" {
		t.Fatal("MDCLUSTER_DEB is not set: run make test-packaging")
	}
	return p
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct{ describe, date, want string }{
		{"v1.2.0", "", "1.2.0"},
		{"v1.2.0-5-gabc1234", "", "1.2.0+git5.abc1234"},
		{"v1.2.0-5-gabc1234-dirty", "", "1.2.0+git5.abc1234.dirty"},
		{"abc1234", "20261125115811", "0.0~git20261125115811.abc1234"},
		{"abc1234-dirty", "20261125115811", "0.0~git20261125115811.abc1234.dirty"},
		{"2e9d5c1", "20261125115811", "0.0~git20261125115811.2e9d5c1"},
		{"2e9d5c1-dirty", "20261125115811", "0.0~git20261125115811.2e9d5c1.dirty"},
	} {
		got := strings.TrimSpace(sh(t, "./debversion.sh", tc.describe, tc.date))
		if got != tc.want {
			t.Errorf("debversion.sh %s %s = %q, want %q", tc.describe, tc.date, got, tc.want)
		}
	}
	// Later builds must sort after earlier ones, and every untagged build before the first tag.
	for _, p := range [][2]string{{"0.0~git20261125115811.abc1234", "0.0~git20261126000000.0000000"}, {"0.0~git20261125115811.abc1234.dirty", "1.0.0"}, {"1.2.0", "1.2.0+git5.abc1234"}} {
		if err := exec.Command("dpkg", "--compare-versions", p[0], "lt", p[1]).Run(); err != nil {
			t.Errorf("dpkg --compare-versions %s lt %s: %v", p[0], p[1], err)
		}
	}
	if err := exec.Command("./debversion.sh").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 2 {
		t.Errorf("debversion.sh without arguments: %v, want exit 2", err)
	}
}

func TestDebInfo(t *testing.T) {
	d := deb(t)
	fields := map[string]string{}
	for _, f := range []string{"Package", "Architecture", "Depends", "Recommends", "Section", "Priority", "Maintainer", "Version"} {
		fields[f] = strings.TrimSpace(sh(t, "dpkg-deb", "--field", d, f))
	}
	want := map[string]string{"Package": "mdcluster", "Architecture": "amd64", "Depends": "mdadm, libc6", "Recommends": "libdlm3",
		"Section": "admin", "Priority": "optional", "Maintainer": fields["Maintainer"], "Version": fields["Version"]}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("control fields (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(d, "_"+fields["Version"]+"_amd64.deb") {
		t.Errorf("file name %s does not carry version %s", d, fields["Version"])
	}
	info := sh(t, "dpkg-deb", "--info", d)
	for _, member := range []string{"control", "conffiles", "md5sums", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, " "+member+" ") {
			t.Errorf("control archive lacks %s:\n%s", member, info)
		}
	}
	ctl := t.TempDir()
	sh(t, "dpkg-deb", "--control", d, ctl)
	conf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if got := strings.TrimSpace(string(conf)); got != "/etc/mdcluster/mdclusterd.yaml.example" {
		t.Errorf("conffiles = %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		sh(t, "sh", "-n", filepath.Join(ctl, s))
	}
}

func TestDebContents(t *testing.T) {
	var files []string
	for _, ln := range strings.Split(sh(t, "dpkg-deb", "--contents", deb(t)), "\n") {
		f := strings.Fields(ln)
		if len(f) < 6 || strings.HasSuffix(f[5], "/") {
			continue
		}
		if f[1] != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", f[5], f[1])
		}
		mode := f[0]
		name := strings.TrimPrefix(f[5], ".")
		files = append(files, mode+" "+name)
	}
	want := []string{
		"-rw-r--r-- /etc/mdcluster/mdclusterd.yaml.example",
		"-rw-r--r-- /lib/systemd/system/mdclusterd.service",
		"-rw-r--r-- /lib/udev/rules.d/51-mdcluster-dlm.rules",
		"-rw-r--r-- /lib/udev/rules.d/63-mdcluster.rules",
		"-rw-r--r-- /usr/lib/mdcluster/cmapshim/libcmap.so.4",
		"-rwxr-xr-x /usr/lib/ocf/resource.d/mdcluster/mdcluster",
		"-rwxr-xr-x /usr/sbin/mdcadm",
		"-rwxr-xr-x /usr/sbin/mdclusterd",
		"-rw-r--r-- /usr/share/doc/mdcluster/README.md",
		"-rw-r--r-- /usr/share/doc/mdcluster/copyright",
		"-rw-r--r-- /usr/share/doc/mdcluster/mdclusterd.example.yaml",
		"-rw-r--r-- /usr/share/man/man8/mdcadm.8.gz",
		"-rw-r--r-- /usr/share/man/man8/mdclusterd.8.gz",
	}
	byName := func(a, b string) int { return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1]) }
	slices.SortFunc(files, byName)
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("package files (-want +got):\n%s", diff)
	}
}

// TestDpkgRootInstall installs the package with dpkg into a scratch root (its own dpkg database;
// a static busybox as /bin/sh so dpkg can run the maintainer scripts chrooted), runs the
// installed binaries there, then removes and purges it. mdadm is not in that root, so the
// install uses --force-depends for that one dependency and checks that dpkg names it.
func TestDpkgRootInstall(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("dpkg --root needs root (chroot for maintainer scripts)")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "bin", "usr/bin", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed for the chroot's /bin/sh: %v", err)
	}
	sh(t, "cp", bb, filepath.Join(root, "bin/busybox"))
	sh(t, "chroot", root, "/bin/busybox", "--install", "-s")
	// dpkg refuses first without the dependency, and says which.
	out, err := exec.Command("dpkg", "--root="+root, "--log=/dev/null", "-i", deb(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "depends on mdadm") {
		t.Fatalf("dpkg -i without mdadm in the root: %v, want a refusal naming mdadm\n%s", err, out)
	}
	t.Logf("without mdadm: %s", strings.TrimSpace(string(out)))
	sh(t, "dpkg", "--root="+root, "--log=/dev/null", "--force-depends", "--configure", "-a")
	status := sh(t, "dpkg-query", "--root="+root, "-W", "-f=${Status} ${Version}", "mdcluster")
	if !strings.HasPrefix(status, "install ok installed ") {
		t.Fatalf("after install: status %q", status)
	}
	for _, p := range []string{"usr/sbin/mdclusterd", "usr/sbin/mdcadm", "usr/lib/ocf/resource.d/mdcluster/mdcluster",
		"lib/systemd/system/mdclusterd.service", "etc/mdcluster/mdclusterd.yaml.example", "usr/share/man/man8/mdclusterd.8.gz"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("installed tree: %v", err)
		}
	}
	// The installed binaries run in the root (static), and the installed example configuration is
	// one the installed agent accepts.
	if v := sh(t, "chroot", root, "/usr/sbin/mdclusterd", "version"); !strings.HasPrefix(v, "mdclusterd ") {
		t.Errorf("mdclusterd version: %q", v)
	}
	// The example names node1's certificates: check-config reads them, so it refuses until
	// `mdclusterd tls` (no openssl on the nodes) made them where the example says.
	rc, msg := exitCode(exec.Command("chroot", root, "/usr/sbin/mdclusterd", "check-config", "/etc/mdcluster/mdclusterd.yaml.example"))
	if rc != 1 || !strings.Contains(msg, `lock_engine.tls.ca: "/etc/mdcluster/tls/ca.crt": no such file or directory`) {
		t.Errorf("check-config of the example before its certificates exist: rc %d: %s", rc, msg)
	}
	sh(t, "chroot", root, "/usr/sbin/mdclusterd", "tls", "init-ca", "/tmp/mdcluster-ca")
	sh(t, "chroot", root, "/usr/sbin/mdclusterd", "tls", "issue", "--ca", "/tmp/mdcluster-ca", "--out", "/etc/mdcluster/tls", "node1", "192.168.100.1")
	t.Log(sh(t, "chroot", root, "/usr/sbin/mdclusterd", "check-config", "/etc/mdcluster/mdclusterd.yaml.example"))
	sh(t, "rm", "-r", filepath.Join(root, "etc/mdcluster/tls"), filepath.Join(root, "tmp/mdcluster-ca"))
	if rc, _ := exitCode(exec.Command("chroot", root, "/usr/lib/ocf/resource.d/mdcluster/mdcluster", "meta-data")); rc != 0 {
		t.Errorf("installed OCF agent meta-data: rc %d", rc)
	}
	// Remove keeps the conffile, purge drops it and the package's database entry.
	sh(t, "dpkg", "--root="+root, "--log=/dev/null", "-r", "mdcluster")
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/mdclusterd")); err == nil {
		t.Error("mdclusterd still there after remove")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/mdcluster/mdclusterd.yaml.example")); err != nil {
		t.Errorf("conffile gone after remove (must stay until purge): %v", err)
	}
	sh(t, "dpkg", "--root="+root, "--log=/dev/null", "--purge", "mdcluster")
	if _, err := os.Stat(filepath.Join(root, "etc/mdcluster")); err == nil {
		t.Error("/etc/mdcluster still there after purge")
	}
	if out, _ := exec.Command("dpkg-query", "--root="+root, "-W", "mdcluster").CombinedOutput(); !strings.Contains(string(out), "no packages found") {
		t.Errorf("dpkg still knows mdcluster after purge: %s", out)
	}
}

func exitCode(cmd *exec.Cmd) (int, string) {
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, string(out)
}
