package mdadmview

import (
	"strconv"
	"strings"
)

// MonitorConf is what --monitor reads from mdadm's config file.
type MonitorConf struct {
	MailAddr, MailFrom, Program string
	Delay                       int // MONITORDELAY, seconds; 0 when absent
	Arrays                      []ConfArray
}

// ConfArray is an ARRAY line as the monitor uses it.
type ConfArray struct {
	Dev        string // as written, "/dev/md/NAME" for a bare NAME
	Spares     int    // spares=N; -1 when absent
	SpareGroup string // spare-group=NAME
}

// keywords are mdadm.conf's, in mdadm's order: a line's first word names the first one it is a
// prefix of (3 letters at least, any case), as mdadm's match_keyword.
var keywords = []string{"DEVICE", "ARRAY", "MAILADDR", "MAILFROM", "PROGRAM", "CREATE", "HOMEHOST", "HOMECLUSTER",
	"AUTO", "POLICY", "PART-POLICY", "SYSFS", "MONITORDELAY"}

func keyword(w string) string {
	if len(w) < 3 {
		return ""
	}
	for _, k := range keywords {
		if len(w) <= len(k) && strings.EqualFold(k[:len(w)], w) {
			return k
		}
	}
	return ""
}

// ConfMonitor reads MAILADDR (its first address), MAILFROM (the whole line), PROGRAM,
// MONITORDELAY and the ARRAY lines of mdadm's config file below root (file "" for the default).
func ConfMonitor(root, file string) MonitorConf {
	var c MonitorConf
	for _, w := range confLines(root, file) {
		args := w[1:]
		switch keyword(w[0]) {
		case "MAILADDR":
			if c.MailAddr == "" && len(args) > 0 {
				c.MailAddr = args[0]
			}
		case "MAILFROM":
			if c.MailFrom == "" && len(args) > 0 {
				c.MailFrom = strings.Join(args, " ")
			}
		case "PROGRAM":
			if c.Program == "" && len(args) > 0 {
				c.Program = args[0]
			}
		case "MONITORDELAY":
			if c.Delay == 0 && len(args) > 0 {
				c.Delay, _ = strconv.Atoi(args[0])
			}
		case "ARRAY":
			if a, ok := confArray(args); ok {
				c.Arrays = append(c.Arrays, a)
			}
		}
	}
	return c
}

// confArray reads an ARRAY line's device name and its spares and spare-group.
func confArray(args []string) (ConfArray, bool) {
	a := ConfArray{Spares: -1}
	for _, w := range args {
		k, v, ok := strings.Cut(w, "=")
		switch {
		case !ok && a.Dev == "":
			a.Dev = w
		case strings.EqualFold(k, "spares"):
			a.Spares, _ = strconv.Atoi(v)
		case strings.EqualFold(k, "spare-group"):
			a.SpareGroup = v
		}
	}
	if a.Dev == "" || strings.EqualFold(a.Dev, "<ignore>") {
		return a, false
	}
	if !strings.HasPrefix(a.Dev, "/") {
		a.Dev = "/dev/md/" + a.Dev
	}
	return a, true
}
