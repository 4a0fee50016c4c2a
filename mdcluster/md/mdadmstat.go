package md

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Values of MdstatEntry.Percent besides 0..100.
const (
	PercentNone    = -1
	PercentDelayed = -2
	PercentPending = -3
	PercentRemote  = -4
)

// MdstatEntry is what mdadm's mdstat_read keeps of one /proc/mdstat array; mdadm's --detail
// prints its sync state from it (including md-cluster's resync=REMOTE, which the procfs parse
// behind MDStat turns into PENDING).
type MdstatEntry struct {
	Devnm    string
	Metadata string // after "super": "external:/md127/0", …
	Percent  int    // 0..100, or PercentNone, PercentDelayed, PercentPending, PercentRemote
	Resync   int    // 0 recovery, 1 resync, 2 reshape, 3 check
}

// MdadmStat parses <root>/proc/mdstat like mdadm's mdstat_read: each array's logical line
// (continuation lines joined) split into words. An unreadable file has no arrays, as for mdadm.
func (f FS) MdadmStat() []MdstatEntry {
	b, err := os.ReadFile(filepath.Join(f.root, "proc", "mdstat"))
	if err != nil {
		return nil
	}
	var lines [][]string
	for _, l := range strings.Split(string(b), "\n") {
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] = append(lines[len(lines)-1], w...)
			continue
		}
		lines = append(lines, w)
	}
	var out []MdstatEntry
	for _, w := range lines {
		name := w[0]
		if !strings.HasPrefix(name, "md") || len(name) >= 32 || len(name) < 3 || (name[2] != '_' && (name[2] < '0' || name[2] > '9')) {
			continue
		}
		ent := MdstatEntry{Devnm: name, Percent: PercentNone}
		active, level, inDevs := -1, false, false
		for i := 1; i < len(w); i++ {
			s := w[i]
			l := len(s)
			switch {
			case s == "active":
				active = 1
			case s == "inactive":
				active, inDevs = 0, true
			case s == "bitmap:":
				i = len(w)
			case active > 0 && !level && s[0] != '(':
				level, inDevs = true, true
			case inDevs && s == "blocks":
				inDevs = false
			case inDevs:
				// a member device
			case s == "super" && i+1 < len(w):
				i++
				ent.Metadata = w[i]
			case ent.Percent == PercentNone && strings.HasPrefix(s, "re") && s[l-1] == '%' && strings.Contains(s, "="):
				ent.Percent = atoiPrefix(s[strings.IndexByte(s, '=')+1:])
				switch {
				case strings.HasPrefix(s, "resync"):
					ent.Resync = 1
				case strings.HasPrefix(s, "reshape"):
					ent.Resync = 2
				default:
					ent.Resync = 0
				}
			case ent.Percent == PercentNone && (s[0] == 'r' || s[0] == 'c'):
				switch {
				case strings.HasPrefix(s, "resync"):
					ent.Resync = 1
				case strings.HasPrefix(s, "reshape"):
					ent.Resync = 2
				case strings.HasPrefix(s, "recovery"):
					ent.Resync = 0
				case strings.HasPrefix(s, "check"):
					ent.Resync = 3
				}
				switch {
				case l > 8 && strings.HasSuffix(s, "=DELAYED"):
					ent.Percent = PercentDelayed
				case l > 8 && strings.HasSuffix(s, "=PENDING"):
					ent.Percent = PercentPending
				case l > 7 && strings.HasSuffix(s, "=REMOTE"):
					ent.Percent = PercentRemote
				}
			case ent.Percent == PercentNone && s[0] >= '0' && s[0] <= '9' && s[l-1] == '%':
				ent.Percent = atoiPrefix(s)
			}
		}
		out = append(out, ent)
	}
	return out
}

// atoiPrefix is atoi: the leading decimal digits of s.
func atoiPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}
