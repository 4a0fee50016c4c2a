package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"mdcluster.dev/internal/vmlab"
)

// HALabDir is the lab cache with the OCF/package initramfs (`make lab-ha`): the lab's initramfs
// plus the .deb, ocf-tester and xmllint. Scenarios that need them boot with MDCLUSTER_LAB set to it.
// When the lab's initramfs was rebuilt after it, the overlay is laid on the new one again (with
// the package `make deb` left in bin/).
func HALabDir() (string, error) {
	dir, _, _, err := vmlab.Paths()
	if err != nil {
		return "", err
	}
	ha := filepath.Join(dir, "ha")
	base, err := os.Stat(filepath.Join(dir, "initramfs.cpio.gz"))
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(filepath.Join(ha, "initramfs.cpio.gz"))
	if err == nil && !fi.ModTime().Before(base.ModTime()) {
		return ha, nil
	}
	root := filepath.Dir(filepath.Dir(ha))
	if r, rerr := moduleRoot(); rerr == nil {
		root = r
	}
	debs, _ := filepath.Glob(filepath.Join(root, "bin", "mdcluster_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("OCF/package lab initramfs missing or stale, and bin/ holds %d package(s): run `make lab-ha`", len(debs))
	}
	out, err := exec.Command(filepath.Join(root, "scripts/ocf/build-lab-overlay.sh"), debs[0]).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build-lab-overlay.sh %s: %w\n%s", debs[0], err, out)
	}
	return ha, nil
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no go.mod above %s", wd)
}

// PackageOptions is the lab PackageInstall needs: one guest, no disks.
var PackageOptions = vmlab.Options{Nodes: 1}

// installDeb unpacks /lab/mdcluster.deb onto the guest's root the way dpkg does it, with
// busybox's ar and tar (the guest has no dpkg): control checks, data.tar into /, every file
// against the package's md5sums, then the postinst as dpkg runs it ("configure"). It returns the
// control file.
func installDeb(ctx context.Context, l *vmlab.Lab, node int) (string, error) {
	return step(ctx, l, node, slow, "unpack /lab/mdcluster.deb onto / (ar, tar), verify md5sums, run postinst configure", `set -e
rm -rf /tmp/deb; mkdir -p /tmp/deb/control; cd /tmp/deb
ar x /lab/mdcluster.deb
[ "$(cat debian-binary)" = 2.0 ] || { echo "debian-binary: $(cat debian-binary)" >&2; exit 1; }
tar -xzf control.tar.gz -C control
tar -xzf data.tar.gz -C /
cd / && md5sum -c -s /tmp/deb/control/md5sums
sh /tmp/deb/control/postinst configure
cat /tmp/deb/control/control`)
}

// PackageInstall installs the package in a fresh guest and checks the installed tree: files where
// they belong, the binaries run, the example configuration passes the installed agent's
// check-config, the OCF agent answers meta-data from its provider directory, and the man pages
// are gzip'ed roff.
func PackageInstall(ctx context.Context, l *vmlab.Lab) error {
	control, err := installDeb(ctx, l, 1)
	if err != nil {
		return err
	}
	for _, want := range []string{"Package: mdcluster", "Depends: mdadm", "Architecture: amd64"} {
		if !strings.Contains(control, want) {
			return fmt.Errorf("control file lacks %q:\n%s", want, control)
		}
	}
	files, err := step(ctx, l, 1, quick, "list the installed files", `cd / && sed 's/^[0-9a-f]*  //' /tmp/deb/control/md5sums`)
	if err != nil {
		return err
	}
	want := "etc/mdcluster/mdclusterd.yaml.example lib/systemd/system/mdclusterd.service usr/lib/ocf/resource.d/mdcluster/mdcluster " +
		"usr/sbin/mdcadm usr/sbin/mdclusterd usr/share/doc/mdcluster/README.md usr/share/doc/mdcluster/copyright " +
		"usr/share/doc/mdcluster/mdclusterd.example.yaml usr/share/man/man8/mdcadm.8.gz usr/share/man/man8/mdclusterd.8.gz"
	if err := expect("files in md5sums", strings.Join(vmlab.Lines(files), " "), want); err != nil {
		return err
	}
	v, err := step(ctx, l, 1, quick, "installed mdclusterd version", "/usr/sbin/mdclusterd version")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(v, "mdclusterd ") {
		return fmt.Errorf("mdclusterd version printed %q", v)
	}
	if _, err := step(ctx, l, 1, quick, "installed mdclusterd check-config of the installed example",
		"/usr/sbin/mdclusterd check-config /etc/mdcluster/mdclusterd.yaml.example"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "installed mdcadm --help", "/usr/sbin/mdcadm --help | grep -q 'mdadm'"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "installed OCF agent meta-data",
		"OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/mdcluster/mdcluster meta-data | grep -q '<resource-agent name=\"mdcluster\"'"); err != nil {
		return err
	}
	_, err = step(ctx, l, 1, quick, "man pages are gzip'ed roff with a .TH header",
		"for m in mdclusterd mdcadm; do zcat /usr/share/man/man8/$m.8.gz | grep -q '^\\.TH '$(echo $m | tr a-z A-Z)' 8' || exit 1; done")
	return err
}
