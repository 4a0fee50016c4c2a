package doctor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mdcluster.dev/mdcluster/config"
)

// RuleName is the package's udev rule (scripts/udev/63-mdcluster.rules).
const RuleName = "63-mdcluster.rules"

// udev finds the rule udev reads under the package's name (a file of that name in /etc or /run
// replaces the package's) and checks that udev applied it to every present member of an
// exclusive array, whose udev database entry must then carry MDCLUSTER_MODE=exclusive.
func (h Host) udev(cfg *config.Config) UdevFact {
	var uf UdevFact
	for _, dir := range []string{"etc/udev/rules.d", "run/udev/rules.d", "lib/udev/rules.d", "usr/lib/udev/rules.d"} {
		p := filepath.Join(dir, RuleName)
		b, err := os.ReadFile(h.path(p))
		if err != nil {
			continue
		}
		if !strings.Contains(string(b), "mdclusterd udev member") {
			uf.Masked = "/" + p
		} else {
			uf.Rule = "/" + p
		}
		break
	}
	for _, dir := range []string{"etc/udev/rules.d", "run/udev/rules.d", "lib/udev/rules.d", "usr/lib/udev/rules.d"} {
		p := filepath.Join(dir, "69-md-clustered-confirm-device.rules")
		if fi, err := os.Stat(h.path(p)); err == nil && fi.Size() > 0 {
			uf.MdadmConfirm = "/" + p
			break
		}
	}
	for _, a := range cfg.Arrays {
		if a.Mode != config.ModeExclusive {
			continue
		}
		for _, d := range a.Devices {
			if !h.deferred(d) {
				uf.Undeferred = append(uf.Undeferred, d)
			}
		}
	}
	return uf
}

// deferred reports whether udev's database marks the device at path as the agent's, or
// mdadm's rule would not act on it anyway: the device is absent, or udev saw no md member on it.
func (h Host) deferred(path string) bool {
	t, err := filepath.EvalSymlinks(h.path(path))
	if err != nil {
		return true
	}
	name := filepath.Base(t)
	dev := readTrim(h.path("sys/class/block/" + name + "/dev"))
	if dev == "" {
		return true
	}
	f, err := os.Open(h.path("run/udev/data/b" + dev))
	if err != nil {
		return false
	}
	defer f.Close()
	member := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch sc.Text() {
		case "E:MDCLUSTER_MODE=exclusive":
			return true
		case "E:ID_FS_TYPE=linux_raid_member":
			member = true
		}
	}
	return !member
}

// mdadmConf reads mdadm's configuration (mdadm.conf and the files of mdadm.conf.d, as mdadm
// does) for ARRAY lines that name an exclusive array without <ignore>: `mdadm --assemble
// --scan`, the initramfs and the incremental assembly of listed arrays would run it on any
// node. It also looks at the initramfs: Debian 12's mdadm hook puts its incremental-assembly
// udev rule there (not the package's rule that defers to the agent) and, when mdadm.conf has no
// ARRAY line, ARRAY lines for every array on the disks (mkconf), so the initramfs assembles
// every exclusive array at boot on every node unless an `ARRAY <ignore>` line names it.
// (INITRDSTART in /etc/default/mdadm, which older mdadm packages read, is gone from Debian 12.)
func (h Host) mdadmConf(cfg *config.Config) MdadmConfFact {
	var mf MdadmConfFact
	var files []string
	for _, f := range []string{"etc/mdadm/mdadm.conf", "etc/mdadm.conf"} {
		if _, err := os.Stat(h.path(f)); err == nil {
			files = append(files, f)
		}
	}
	for _, d := range []string{"etc/mdadm/mdadm.conf.d", "etc/mdadm.conf.d"} {
		more, _ := filepath.Glob(h.path(d + "/*.conf"))
		for _, m := range more {
			files = append(files, strings.TrimPrefix(m, strings.TrimSuffix(h.Root, "/")+"/"))
		}
	}
	exclusive := map[string]string{}
	for _, a := range cfg.Arrays {
		if a.Mode == config.ModeExclusive {
			exclusive[a.UUID] = a.Name
		}
	}
	// The initramfs gets one file: the hook copies /etc/mdadm/mdadm.conf, or /etc/mdadm.conf
	// when that does not exist (not the .d directories).
	hookConf := ""
	if len(files) > 0 && (files[0] == "etc/mdadm/mdadm.conf" || files[0] == "etc/mdadm.conf") {
		hookConf = files[0]
	}
	ignored := map[string]bool{}
	for _, f := range files {
		mf.Files = append(mf.Files, "/"+f)
		b, err := os.ReadFile(h.path(f))
		if err != nil {
			mf.Err = err.Error()
			continue
		}
		for _, ln := range arrayLines(string(b)) {
			name, ok := namesArray(ln, exclusive)
			switch {
			case !ok:
			case isIgnore(ln):
				if f == hookConf {
					ignored[name] = true
				}
			default:
				mf.Listed = append(mf.Listed, fmt.Sprintf("%s (/%s)", name, f))
			}
		}
	}
	if _, err := os.Stat(h.path("usr/share/initramfs-tools/hooks/mdadm")); err == nil {
		for _, a := range cfg.Arrays {
			if a.Mode == config.ModeExclusive && !ignored[a.Name] {
				mf.Initramfs = append(mf.Initramfs, a.Name)
			}
		}
		mf.InitramfsStale = h.staleInitramfs(hookConf)
	}
	return mf
}

// staleInitramfs names this kernel's initramfs when it is older than the mdadm.conf the hook
// copies into it: a line added since is not in the image until `update-initramfs -u`.
func (h Host) staleInitramfs(conf string) string {
	rel, err := os.ReadFile(h.path("proc/sys/kernel/osrelease"))
	if conf == "" || err != nil {
		return ""
	}
	img := "boot/initrd.img-" + strings.TrimSpace(string(rel))
	ii, err := os.Stat(h.path(img))
	if err != nil {
		return "" // no initramfs-tools image to compare (the lab's guests)
	}
	ci, err := os.Stat(h.path(conf))
	if err != nil || !ci.ModTime().After(ii.ModTime()) {
		return ""
	}
	return "/" + img
}

// stripComment drops a comment: mdadm starts one at a word that begins with '#'.
func stripComment(ln string) string {
	for i := 0; i < len(ln); i++ {
		if ln[i] == '#' && (i == 0 || ln[i-1] == ' ' || ln[i-1] == '\t') {
			return ln[:i]
		}
	}
	return ln
}

// isIgnore reports whether an ARRAY line's device is <ignore> (mdadm: the word without '=',
// in any case).
func isIgnore(line string) bool {
	for _, w := range strings.Fields(line)[1:] {
		if !strings.Contains(w, "=") && strings.EqualFold(w, "<ignore>") {
			return true
		}
	}
	return false
}

// arrayLines returns mdadm.conf's ARRAY lines (keywords may be abbreviated to 3 letters and
// continue on lines that start with white space), comments removed.
func arrayLines(conf string) []string {
	var out []string
	cur := ""
	flush := func() {
		if f := strings.Fields(cur); len(f) > 0 && strings.HasPrefix("ARRAY", strings.ToUpper(f[0])) && len(f[0]) >= 3 {
			out = append(out, cur)
		}
		cur = ""
	}
	for _, ln := range strings.Split(conf, "\n") {
		ln = stripComment(ln)
		if ln != "" && (ln[0] == ' ' || ln[0] == '\t') {
			cur += " " + ln
			continue
		}
		flush()
		cur = ln
	}
	flush()
	return out
}

// namesArray reports which of the arrays (by uuid=, any spelling) an ARRAY line names.
func namesArray(line string, arrays map[string]string) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", false
	}
	for _, w := range f[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || !strings.EqualFold(k, "uuid") {
			continue
		}
		for u, name := range arrays {
			if config.SameUUID(u, v) {
				return name, true
			}
		}
	}
	return "", false
}
