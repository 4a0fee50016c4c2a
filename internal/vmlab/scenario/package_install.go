package scenario

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// PackageOptions is the lab PackageInstall needs: one guest and one disk, on which the scenario
// writes the Debian root image (DebianRootImage).
var PackageOptions = vmlab.Options{Nodes: 1, Disks: 1, DiskSize: 1 << 30}

// DebianRootImage is the ext4 image of a fresh Debian 12 root (debootstrap minbase plus mdadm,
// which the package depends on) that scripts/vm/setup-host.sh makes in the lab cache.
func DebianRootImage() (string, error) {
	dir, _, _, err := vmlab.Paths()
	if err != nil {
		return "", err
	}
	img := filepath.Join(dir, "debian-rootfs.ext4")
	if _, err := os.Stat(img); err != nil {
		return "", fmt.Errorf("%w: run `make lab` (scripts/vm/setup-host.sh builds the Debian root)", err)
	}
	return img, nil
}

// writeImage copies the file system image img into the lab disk disk in place (QEMU holds the disk
// open, so it cannot be replaced) and returns how many bytes it wrote. The disk is a new sparse
// file, so the image's zero blocks are skipped.
func writeImage(img, disk string) (int64, error) {
	in, err := os.Open(img)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	di, err := os.Stat(disk)
	if err != nil {
		return 0, err
	}
	if fi.Size() > di.Size() {
		return 0, fmt.Errorf("image %s (%d bytes) does not fit the lab disk (%d bytes)", img, fi.Size(), di.Size())
	}
	out, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	var off, written int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				out.Close()
				return written, err
			}
			written += int64(n)
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return written, rerr
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return written, err
	}
	return written, out.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// inDebian runs its arguments in the Debian root mounted at /deb, with a clean environment: the
// PATH dpkg needs (it looks for ldconfig and start-stop-daemon) and the C locale.
const inDebian = `in_deb() { chroot /deb /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@"; }
`

// dpkg runs one dpkg command in the Debian root: it must exit 0 and write nothing on stderr (no
// warning either). Its output goes to the log line by line.
func dpkg(ctx context.Context, l *vmlab.Lab, what, args string) error {
	r, err := l.Step(ctx, 1, slow, what, inDebian+"in_deb "+args)
	if err != nil {
		return err
	}
	for _, ln := range vmlab.Lines(r.Stdout) {
		l.Logf("node1:   %s", ln)
	}
	if r.Stderr != "" {
		return fmt.Errorf("%s: dpkg wrote on stderr:\n%s", what, r.Stderr)
	}
	return nil
}

// PackageInstall installs the package with Debian's own dpkg in a fresh Debian 12 root (img, from
// DebianRootImage) and removes it again. The guest mounts the root from the lab disk, binds /proc,
// /sys and /dev into it and runs everything in a chroot: `dpkg -i` succeeds without a word on
// stderr and leaves the package "install ok installed" with every file matching its md5sums; the
// installed files are where they belong, the binaries run, the example configuration passes the
// installed agent's check-config once `mdclusterd tls` made the certificates it names, the OCF agent answers meta-data under Debian's /bin/sh, the
// systemd unit is in /lib/systemd/system, and the man pages are gzip'ed roff. `dpkg -r` keeps the
// conffile, and `dpkg -P` leaves none of the files `dpkg -L` listed before the removal (only
// directories other packages own).
func PackageInstall(ctx context.Context, l *vmlab.Lab, img string) error {
	if err := mountDebianRoot(ctx, l, img); err != nil {
		return err
	}
	version, err := beforeInstall(ctx, l)
	if err != nil {
		return err
	}
	if err := installAndList(ctx, l, version); err != nil {
		return err
	}
	if err := installedWorks(ctx, l); err != nil {
		return err
	}
	if err := removeAndPurge(ctx, l); err != nil {
		return err
	}
	_, err = step(ctx, l, 1, quick, "unmount the Debian root", "umount /deb/proc /deb/sys /deb/dev /deb")
	return err
}

// mountDebianRoot writes the Debian root image to the lab disk and mounts it at /deb in the
// guest with /proc, /sys and /dev bound and the package copied in.
func mountDebianRoot(ctx context.Context, l *vmlab.Lab, img string) error {
	t0 := time.Now()
	n, err := writeImage(img, l.Disks[0])
	if err != nil {
		return fmt.Errorf("write the Debian root to the lab disk: %w", err)
	}
	l.Logf("host: wrote %s to the lab disk (%d MiB of data, %.1fs)", filepath.Base(img), n>>20, time.Since(t0).Seconds())
	// The guest may have read the still empty disk when it probed it at boot: drop that first.
	release, err := step(ctx, l, 1, slow, "mount the Debian root (ext4, /dev/vda) at /deb, bind /proc /sys /dev, copy the package in", `set -e
sync; echo 3 > /proc/sys/vm/drop_caches
mkdir -p /deb
mount -t ext4 /dev/vda /deb
for d in proc sys dev; do mount --bind /$d /deb/$d; done
cp /lab/mdcluster.deb /deb/tmp/mdcluster.deb
. /deb/etc/os-release; echo "$PRETTY_NAME"`)
	if err != nil {
		return err
	}
	if err := expect("Debian root", release, "Debian GNU/Linux 12 (bookworm)"); err != nil {
		return err
	}
	return nil
}

// beforeInstall checks the Debian root before the install (dpkg and mdadm installed, mdcluster
// unknown, the package's control file) and returns the package's version.
func beforeInstall(ctx context.Context, l *vmlab.Lab) (string, error) {
	pre, err := step(ctx, l, 1, quick, "Debian root: dpkg and mdadm installed, mdcluster unknown", inDebian+
		`in_deb dpkg-query -W -f='${Package} ${Status}\n' dpkg mdadm
in_deb dpkg-query -W mdcluster 2>/dev/null && exit 1
in_deb dpkg-deb -f /tmp/mdcluster.deb Package Version Architecture Depends`)
	if err != nil {
		return "", err
	}
	lines := vmlab.Lines(pre)
	if len(lines) != 6 {
		return "", fmt.Errorf("the Debian root before the install: %q", lines)
	}
	if err := expect("dpkg and mdadm", strings.Join(lines[:2], "; "), "dpkg install ok installed; mdadm install ok installed"); err != nil {
		return "", err
	}
	version := strings.TrimPrefix(lines[3], "Version: ")
	if err := expect("control file", strings.Join([]string{lines[2], lines[4], lines[5]}, "; "),
		"Package: mdcluster; Architecture: amd64; Depends: mdadm, libc6"); err != nil {
		return "", err
	}
	return version, nil
}

// installAndList runs dpkg -i and checks the status, the files dpkg -L lists (kept in
// /tmp/mdcluster.list for the removal) and the installed programs' versions.
func installAndList(ctx context.Context, l *vmlab.Lab, version string) error {
	if err := dpkg(ctx, l, "dpkg -i /tmp/mdcluster.deb", "dpkg -i /tmp/mdcluster.deb"); err != nil {
		return err
	}
	st, err := step(ctx, l, 1, quick, "dpkg -s mdcluster; dpkg --verify", inDebian+
		`in_deb dpkg-query -W -f='${Status} ${Version}\n' mdcluster
in_deb dpkg --verify mdcluster`)
	if err != nil {
		return err
	}
	if err := expect("dpkg -s mdcluster, dpkg --verify", st, "install ok installed "+version); err != nil {
		return err
	}
	// Everything dpkg installed, before the removal; the files among it.
	listed, err := step(ctx, l, 1, quick, "dpkg -L mdcluster", inDebian+
		`in_deb dpkg -L mdcluster > /tmp/mdcluster.list
while read -r f; do if [ -f "/deb$f" ]; then echo "$f"; fi; done < /tmp/mdcluster.list`)
	if err != nil {
		return err
	}
	want := "/etc/mdcluster/mdclusterd.yaml.example /lib/systemd/system/mdclusterd.service /lib/udev/rules.d/51-mdcluster-dlm.rules " +
		"/lib/udev/rules.d/63-mdcluster.rules " +
		"/usr/lib/mdcluster/cmapshim/libcmap.so.4 /usr/lib/ocf/resource.d/mdcluster/mdcluster " +
		"/usr/sbin/mdcadm /usr/sbin/mdclusterd /usr/share/doc/mdcluster/README.md /usr/share/doc/mdcluster/copyright " +
		"/usr/share/doc/mdcluster/mdclusterd.example.yaml /usr/share/man/man8/mdcadm.8.gz /usr/share/man/man8/mdclusterd.8.gz"
	files := vmlab.Lines(listed)
	sort.Strings(files)
	if err := expect("files dpkg -L lists", strings.Join(files, " "), want); err != nil {
		return err
	}
	v, err := step(ctx, l, 1, quick, "installed mdclusterd version, mdcadm --version", inDebian+
		"in_deb mdclusterd version; in_deb mdcadm --version 2>&1") // mdadm prints its version on stderr, and so does mdcadm
	if err != nil {
		return err
	}
	if vs := vmlab.Lines(v); len(vs) != 2 || !strings.HasPrefix(vs[0], "mdclusterd ") || !strings.HasPrefix(vs[1], "mdcadm ") {
		return fmt.Errorf("installed mdclusterd version, mdcadm --version printed %q", v)
	}
	return nil
}

// installedWorks runs the installed programs, OCF agent, unit and man pages in the Debian root.
func installedWorks(ctx context.Context, l *vmlab.Lab) error {
	checks := []struct{ what, script string }{
		// The example names node1's certificates, and check-config reads them: it refuses until
		// the installed `mdclusterd tls` (the guest has no openssl) made them; they go again
		// before the removal, which must leave nothing of the package's own.
		{"installed mdclusterd check-config of the installed example: refused without its certificates, accepted with them",
			`in_deb mdclusterd check-config /etc/mdcluster/mdclusterd.yaml.example 2>/tmp/cc.err && exit 1
grep -q 'lock_engine.tls.ca: "/etc/mdcluster/tls/ca.crt": no such file or directory' /tmp/cc.err || { cat /tmp/cc.err; exit 1; }
in_deb mdclusterd tls init-ca /tmp/mdcluster-ca >/dev/null || exit 1
in_deb mdclusterd tls issue --ca /tmp/mdcluster-ca --out /etc/mdcluster/tls node1 192.168.100.1 >/dev/null || exit 1
in_deb mdclusterd check-config /etc/mdcluster/mdclusterd.yaml.example || exit 1
rm -r /deb/etc/mdcluster/tls /deb/tmp/mdcluster-ca`},
		{"installed mdcadm --help", "in_deb mdcadm --help | grep -q mdadm"},
		{"installed OCF agent meta-data (Debian's /bin/sh)",
			`in_deb env OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/mdcluster/mdcluster meta-data | grep -q '<resource-agent name="mdcluster"'`},
		{"systemd unit in /lib/systemd/system, owned by mdcluster, runs /usr/sbin/mdclusterd",
			`[ "$(in_deb dpkg -S /lib/systemd/system/mdclusterd.service)" = "mdcluster: /lib/systemd/system/mdclusterd.service" ] &&
grep -q '^ExecStart=/usr/sbin/mdclusterd ' /deb/lib/systemd/system/mdclusterd.service`},
		{"man pages are gzip'ed roff with a .TH header",
			"for m in mdclusterd mdcadm; do in_deb zcat /usr/share/man/man8/$m.8.gz | grep -q '^\\.TH '$(echo $m | tr a-z A-Z)' 8' || exit 1; done"},
	}
	for _, c := range checks {
		if _, err := step(ctx, l, 1, quick, c.what, inDebian+c.script); err != nil {
			return err
		}
	}
	return nil
}

// removeAndPurge runs dpkg -r (only the conffile stays) and dpkg -P (nothing of the package's
// own stays).
func removeAndPurge(ctx context.Context, l *vmlab.Lab) error {
	if err := dpkg(ctx, l, "dpkg -r mdcluster", "dpkg -r mdcluster"); err != nil {
		return err
	}
	left, err := step(ctx, l, 1, quick, "after dpkg -r: status, the files still there", inDebian+
		`in_deb dpkg-query -W -f='${Status}\n' mdcluster
while read -r f; do if [ -f "/deb$f" ]; then echo "$f"; fi; done < /tmp/mdcluster.list`)
	if err != nil {
		return err
	}
	if err := expect("after dpkg -r", strings.Join(vmlab.Lines(left), "; "),
		"deinstall ok config-files; /etc/mdcluster/mdclusterd.yaml.example"); err != nil {
		return err
	}
	l.Logf("node1:   after dpkg -r: deinstall ok config-files, only the conffile /etc/mdcluster/mdclusterd.yaml.example left")
	if err := dpkg(ctx, l, "dpkg -P mdcluster", "dpkg -P mdcluster"); err != nil {
		return err
	}
	// A path dpkg -L listed may remain only as a directory another package owns (/usr/sbin,
	// /lib/systemd/system…; /lib is merged /usr's link to /usr/lib).
	left, err = step(ctx, l, 1, quick, "after dpkg -P: status, what is left of dpkg -L's list", inDebian+
		`in_deb dpkg-query -W mdcluster >/dev/null 2>&1 && echo "dpkg still knows mdcluster"
ls /deb/var/lib/dpkg/info/mdcluster.* 2>/dev/null
n=0
while read -r f; do
  if [ "$f" = /. ]; then continue
  elif [ -d "/deb$f" ] && in_deb dpkg -S "$f" >/dev/null 2>&1; then n=$((n+1))
  elif [ -e "/deb$f" ] || [ -L "/deb$f" ]; then echo "left: $f"; fi
done < /tmp/mdcluster.list
echo "$n shared directories of $(grep -c . /tmp/mdcluster.list) paths"`)
	if err != nil {
		return err
	}
	if ls := vmlab.Lines(left); len(ls) != 1 || !strings.HasSuffix(ls[0], " paths") {
		return fmt.Errorf("after dpkg -P:\n%s", left)
	}
	l.Logf("node1:   after dpkg -P: nothing left but %s", left)
	return nil
}
