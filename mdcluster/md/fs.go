package md

import (
	"golang.org/x/sys/unix"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/procfs"
)

// FS reads and changes md state below a root directory: <root>/sys/block/<array>/md and
// <root>/proc/mdstat. Use "/" for the running kernel; tests use unpacked captures.
type FS struct {
	root string
}

// NewFS returns an FS rooted at root, which must be a directory.
func NewFS(root string) (FS, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return FS{}, fmt.Errorf("md: root: %w", err)
	}
	if !fi.IsDir() {
		return FS{}, fmt.Errorf("md: root %s is not a directory", root)
	}
	return FS{root: root}, nil
}

// NewDefaultFS returns an FS for the running kernel.
func NewDefaultFS() (FS, error) { return NewFS("/") }

func (f FS) blockDir() string { return filepath.Join(f.root, "sys", "block") }

// mdDir returns <root>/sys/block/<name>/md after checking that name is one path element.
func (f FS) mdDir(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("%w: bad array name %q", ErrNoArray, name)
	}
	return filepath.Join(f.blockDir(), name, "md"), nil
}

// ArrayNames lists the block devices that have an md directory (md arrays, running or not),
// sorted.
func (f FS) ArrayNames() ([]string, error) {
	ents, err := os.ReadDir(f.blockDir())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRead, err)
	}
	var names []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(f.blockDir(), e.Name(), "md")); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Arrays reads every array. An array that disappears while it is read is left out.
func (f FS) Arrays() ([]Array, error) {
	names, err := f.ArrayNames()
	if err != nil {
		return nil, err
	}
	arrays := make([]Array, 0, len(names))
	for _, n := range names {
		a, err := f.Array(n)
		if errors.Is(err, ErrNoArray) {
			continue
		}
		if err != nil {
			return nil, err
		}
		arrays = append(arrays, a)
	}
	return arrays, nil
}

// Array reads one array's sysfs state.
func (f FS) Array(name string) (Array, error) {
	raw, err := f.readArray(name)
	if err != nil {
		return Array{}, err
	}
	return parseArray(raw)
}

// MDStat reads /proc/mdstat below the root with prometheus/procfs.
func (f FS) MDStat() ([]procfs.MDStat, error) {
	st, err := readMDStat(filepath.Join(f.root, "proc"))
	if err != nil {
		return nil, fmt.Errorf("md: mdstat: %w", err)
	}
	return st, nil
}

// rawArray is an array's attribute text as read, keyed by path relative to its md directory
// ("level", "bitmap/location"), with members keyed by device name.
type rawArray struct {
	name    string
	dev     string // /sys/block/<name>/dev
	attrs   map[string]string
	members map[string]map[string]string
}

// Attributes read for arrays and members; absent files are skipped.
var (
	arrayAttrs = []string{"level", "array_state", "raid_disks", "degraded", "sync_action",
		"last_sync_action", "sync_completed", "sync_min", "sync_max", "sync_speed", "sync_speed_min",
		"sync_speed_max", "mismatch_cnt", "suspend_lo", "suspend_hi", "uuid", "metadata_version",
		"chunk_size", "component_size", "bitmap/location", "bitmap/chunksize", "bitmap/metadata"}
	memberAttrs = []string{"state", "slot", "errors", "block/dev"}
)

func (f FS) readArray(name string) (rawArray, error) {
	dir, err := f.mdDir(name)
	if err != nil {
		return rawArray{}, err
	}
	if _, err := os.Stat(dir); err != nil {
		return rawArray{}, fmt.Errorf("%w: %s: %v", ErrNoArray, name, err)
	}
	r := rawArray{name: name, members: map[string]map[string]string{}}
	if r.dev, _, err = readFile(filepath.Join(dir, "..", "dev")); err != nil {
		return rawArray{}, fmt.Errorf("md: %s: %w", name, err)
	}
	if r.attrs, err = readAttrs(dir, arrayAttrs); err != nil {
		return rawArray{}, fmt.Errorf("md: %s: %w", name, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rawArray{}, fmt.Errorf("md: %s: %w: %v", name, ErrRead, err)
	}
	for _, e := range ents {
		dev, ok := strings.CutPrefix(e.Name(), "dev-")
		if !ok || !e.IsDir() {
			continue
		}
		m, err := readAttrs(filepath.Join(dir, e.Name()), memberAttrs)
		if err != nil {
			return rawArray{}, fmt.Errorf("md: %s: member %s: %w", name, dev, err)
		}
		r.members[dev] = m
	}
	return r, nil
}

// readAttrs reads the named files below dir that exist.
func readAttrs(dir string, names []string) (map[string]string, error) {
	m := make(map[string]string, len(names))
	for _, n := range names {
		v, ok, err := readFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		if ok {
			m[n] = v
		}
	}
	return m, nil
}

// readFile returns a file's trimmed text and true, or false without error when it does not
// exist.
func readFile(path string) (string, bool, error) {
	var buf [attrSize]byte
	v, err := readAt(unix.AT_FDCWD, path, buf[:])
	if absent(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrRead, err)
	}
	return v, true, nil
}

// attrSize is the largest sysfs attribute: one page.
const attrSize = 4096

// readAt returns the trimmed text of the file at path, relative to the directory dirfd
// (unix.AT_FDCWD: the working directory), read into buf. Errors are *os.PathError with the
// system call's errno, so that callers can tell absent files apart.
//
// sysfs attributes are at most a page, so one open, one read and one close do: a scrape of many
// arrays reads hundreds of them, and os.ReadFile's stat and second read double the system calls.
func readAt(dirfd int, path string, buf []byte) (string, error) {
	fd, err := unix.Openat(dirfd, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += k
		// sysfs returns a whole attribute in one read, and so does a small regular file (a
		// captured tree): a short read is the end.
		if k == 0 || n < len(buf) {
			break
		}
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// absent reports whether err from readAt means there is no such file: a missing name, or a
// path through something that is not a directory.
func absent(err error) bool { return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) }
