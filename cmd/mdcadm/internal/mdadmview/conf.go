package mdadmview

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mapEntry is a line of mdadm's map file (/run/mdadm/map).
type mapEntry struct {
	devnm, metadata string
	uuid            [4]uint32
	path            string
}

// readMap reads /run/mdadm/map. mdadm rebuilds a missing map; mdcadm
// treats it as empty.
func (r *viewer) readMap() []mapEntry {
	f, err := os.Open(r.path("/run/mdadm/map"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mapEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 4 {
			continue
		}
		var m mapEntry
		m.devnm, m.metadata = w[0], w[1]
		if n, _ := fmt.Sscanf(w[2], "%x:%x:%x:%x", &m.uuid[0], &m.uuid[1], &m.uuid[2], &m.uuid[3]); n != 4 {
			continue
		}
		m.path = w[3]
		if len(m.path) > 200 {
			m.path = m.path[:200]
		}
		out = append(out, m)
	}
	return out
}

// mapUUID is the map file's form of an array UUID: the 16 bytes as four
// host-order (little-endian) 32-bit words.
func mapUUID(u [16]byte) [4]uint32 {
	var w [4]uint32
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(u[4*i:])
	}
	return w
}

// confName is the config file mdadm reads (Debian's location).
func confName(file string) string {
	if file != "" {
		return file
	}
	return "/etc/mdadm/mdadm.conf"
}

// confLines returns the config file's logical lines split into words
// (a line starting with white space continues the previous one).
func confLines(root, file string) [][]string {
	b, err := os.ReadFile(filepath.Join(root, confName(file)))
	if err != nil && file == "" {
		b, err = os.ReadFile(filepath.Join(root, "/etc/mdadm.conf"))
	}
	if err != nil {
		return nil
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], w...)
			continue
		}
		out = append(out, w)
	}
	return out
}

// ConfHomehost returns the HOMEHOST of mdadm's config file below root
// (file "" for the default one), "" when there is none.
func ConfHomehost(root, file string) string {
	for _, w := range confLines(root, file) {
		if strings.EqualFold(w[0], "HOMEHOST") && len(w) > 1 {
			return w[1]
		}
	}
	return ""
}

// confDevices lists the devices of the config file's DEVICE lines; without
// any, or for "partitions", those of /proc/partitions by their /dev names,
// last first (mdadm's load_partitions prepends each).
func (r *viewer) confDevices(file string) []Device {
	var pats []string
	for _, w := range confLines(r.root, file) {
		if strings.EqualFold(w[0], "DEVICE") {
			pats = append(pats, w[1:]...)
		}
	}
	if len(pats) == 0 {
		pats = []string{"partitions"}
	}
	var out, globs []Device
	for _, p := range pats {
		if p == "partitions" {
			b, _ := os.ReadFile(r.path("/proc/partitions"))
			var part []Device
			for _, l := range strings.Split(string(b), "\n") {
				var maj, min uint32
				if !strings.HasPrefix(l, " ") {
					continue
				}
				if n, _ := fmt.Sscan(l, &maj, &min); n != 2 {
					continue
				}
				if name := r.mapDev(maj, min, true); name != "" {
					part = append([]Device{{Name: name}}, part...)
				}
			}
			out = append(out, part...)
			continue
		}
		if p == "containers" {
			continue
		}
		m, _ := filepath.Glob(r.path(p))
		for _, n := range m {
			rel, _ := filepath.Rel(r.path("/"), n)
			globs = append([]Device{{Name: "/" + rel}}, globs...) // prepended, as mdadm does
		}
	}
	return append(globs, out...)
}
