package cli

import (
	"os"
	"strconv"
	"strings"
)

// Sync progress values of mdstatEnt.percent besides 0..100.
const (
	resyncNone    = -1
	resyncDelayed = -2
	resyncPending = -3
	resyncRemote  = -4
)

// mdstatEnt is what mdadm's mdstat_read keeps of one /proc/mdstat array.
type mdstatEnt struct {
	devnm    string
	metadata string
	percent  int
	resync   int // 0 recovery, 1 resync, 2 reshape, 3 check
}

// readMdstat parses /proc/mdstat like mdstat_read: each array's logical
// line (continuation lines joined) split into words.
func (e *Env) readMdstat() []mdstatEnt {
	b, err := os.ReadFile(e.path("/proc/mdstat"))
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
	var out []mdstatEnt
	for _, w := range lines {
		name := w[0]
		if !strings.HasPrefix(name, "md") || len(name) >= 32 || len(name) < 3 || (name[2] != '_' && (name[2] < '0' || name[2] > '9')) {
			continue
		}
		ent := mdstatEnt{devnm: name, percent: resyncNone}
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
				ent.metadata = w[i]
			case ent.percent == resyncNone && strings.HasPrefix(s, "re") && s[l-1] == '%' && strings.Contains(s, "="):
				ent.percent = atoiPrefix(s[strings.IndexByte(s, '=')+1:])
				switch {
				case strings.HasPrefix(s, "resync"):
					ent.resync = 1
				case strings.HasPrefix(s, "reshape"):
					ent.resync = 2
				default:
					ent.resync = 0
				}
			case ent.percent == resyncNone && (s[0] == 'r' || s[0] == 'c'):
				switch {
				case strings.HasPrefix(s, "resync"):
					ent.resync = 1
				case strings.HasPrefix(s, "reshape"):
					ent.resync = 2
				case strings.HasPrefix(s, "recovery"):
					ent.resync = 0
				case strings.HasPrefix(s, "check"):
					ent.resync = 3
				}
				switch {
				case l > 8 && strings.HasSuffix(s, "=DELAYED"):
					ent.percent = resyncDelayed
				case l > 8 && strings.HasSuffix(s, "=PENDING"):
					ent.percent = resyncPending
				case l > 7 && strings.HasSuffix(s, "=REMOTE"):
					ent.percent = resyncRemote
				}
			case ent.percent == resyncNone && s[0] >= '0' && s[0] <= '9' && s[l-1] == '%':
				ent.percent = atoiPrefix(s)
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
