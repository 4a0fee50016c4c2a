package mdadmview

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"mdcluster.dev/mdcluster/md"
)

// devEntry is a block device node found under /dev.
type devEntry struct {
	name         string
	major, minor uint32
}

// devList walks /dev once, like mdadm's nftw in map_dev_preferred: block
// device nodes and symlinks to them, in directory order.
func (r *viewer) devList() []devEntry {
	if r.devs != nil {
		return r.devs
	}
	r.devs = []devEntry{}
	root := r.path("/dev")
	walk(root, func(p string, st *syscall.Stat_t) {
		rel, _ := filepath.Rel(r.path("/"), p)
		r.devs = append(r.devs, devEntry{name: "/" + rel, major: md.DevMajor(uint64(st.Rdev)), minor: md.DevMinor(uint64(st.Rdev))})
	})
	return r.devs
}

// walk visits dir in readdir order, not following directory symlinks.
func walk(dir string, fn func(string, *syscall.Stat_t)) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	ents, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			walk(p, fn)
			continue
		}
		if e.Type()&(fs.ModeSymlink|fs.ModeDevice) == 0 {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
			continue
		}
		fn(p, &st)
	}
}

// mapDev is mdadm's map_dev_preferred: the shortest /dev name of
// major:minor, names under /dev/md/ (or containing --prefer) first; with
// create, "major:minor" when there is none.
func (r *viewer) mapDev(major, minor uint32, create bool) string {
	if major == 0 && minor == 0 {
		return ""
	}
	var regular, preferred string
	for _, d := range r.devList() {
		if d.major != major || d.minor != minor {
			continue
		}
		if strings.HasPrefix(d.name, "/dev/md/") || (r.q.Prefer != "" && strings.Contains(d.name, r.q.Prefer)) {
			if preferred == "" || len(d.name) < len(preferred) {
				preferred = d.name
			}
		} else if regular == "" || len(d.name) < len(regular) {
			regular = d.name
		}
	}
	switch {
	case preferred != "":
		return preferred
	case regular != "":
		return regular
	case create:
		return fmt.Sprintf("%d:%d", major, minor)
	}
	return ""
}
