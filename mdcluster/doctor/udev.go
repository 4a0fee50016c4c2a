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
// node. It also looks at the initramfs: Debian's mdadm script there assembles every array it
// finds when INITRDSTART is 'all' (the default).
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
	for _, f := range files {
		mf.Files = append(mf.Files, "/"+f)
		b, err := os.ReadFile(h.path(f))
		if err != nil {
			mf.Err = err.Error()
			continue
		}
		for _, ln := range arrayLines(string(b)) {
			if name, ok := listsArray(ln, exclusive); ok {
				mf.Listed = append(mf.Listed, fmt.Sprintf("%s (/%s)", name, f))
			}
		}
	}
	if _, err := os.Stat(h.path("usr/share/initramfs-tools/scripts/local-block/mdadm")); err == nil && len(exclusive) > 0 {
		start := "all"
		if b, err := os.ReadFile(h.path("etc/default/mdadm")); err == nil {
			for _, ln := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(ln), "INITRDSTART="); ok {
					start = strings.Trim(v, `'"`)
				}
			}
		}
		if start == "all" {
			mf.Initramfs = "INITRDSTART='all' (/etc/default/mdadm)"
		}
	}
	return mf
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
		if i := strings.IndexByte(ln, '#'); i >= 0 {
			ln = ln[:i]
		}
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

// listsArray reports whether an ARRAY line names one of the arrays (by uuid=, any spelling)
// without <ignore> as its device.
func listsArray(line string, arrays map[string]string) (string, bool) {
	f := strings.Fields(line)
	if len(f) > 1 && f[1] == "<ignore>" {
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
