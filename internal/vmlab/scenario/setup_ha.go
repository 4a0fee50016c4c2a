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

// arrayUUID creates an array with mdadm (args after --create /dev/mdN), reads its UUID and stops
// it again, so the agent finds it stopped.
func arrayUUID(ctx context.Context, l *vmlab.Lab, md, what, args string) (string, error) {
	u, err := step(ctx, l, 1, slow, what, fmt.Sprintf(
		"mdadm --create /dev/%[1]s --run %[2]s >/dev/null 2>&1 || { mdadm --create /dev/%[1]s --run %[2]s; exit 1; }\n"+
			"mdadm --detail --export /dev/%[1]s | sed -n 's/^MD_UUID=//p'\nmdadm --stop /dev/%[1]s >/dev/null 2>&1", md, args))
	if err != nil {
		return "", err
	}
	if len(strings.ReplaceAll(u, ":", "")) != 32 {
		return "", fmt.Errorf("%s: UUID %q", what, u)
	}
	return u, nil
}
