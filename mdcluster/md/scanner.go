package md

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The attributes a Scanner reads: an array's identity and health, not its settings.
// scanBitmapAttrs are read only when bitmap/location names a bitmap.
var (
	scanArrayAttrs = []string{"level", "array_state", "raid_disks", "degraded", "sync_action",
		"sync_completed", "sync_max", "sync_speed", "mismatch_cnt", "uuid", "metadata_version",
		"component_size", "bitmap/location"}
	scanBitmapAttrs = []string{"bitmap/chunksize", "bitmap/metadata"}
	scanMemberAttrs = []string{"state", "slot", "errors"}
)

const (
	// maxScanWorkers bounds the arrays a Scanner reads at once.
	maxScanWorkers = 4
	// maxHeldFiles bounds the files a Scanner keeps open; past it, attributes are opened,
	// read and closed on every call.
	maxHeldFiles = 4096
)

// Scanner reads every array again on each call to Arrays, for callers that poll (a metrics
// scrape), and only the attributes that tell an array's identity and health. These fields stay
// zero: Major, Minor, LastSyncAction, SyncMin, SyncSpeedMin, SyncSpeedMax, SuspendLo, SuspendHi,
// ChunkSize, and each member's Major and Minor. Every other field is parsed as Arrays parses it.
//
// A Scanner keeps the md directories and attribute files it opened and reads each attribute
// again from offset 0 on the next call, as mdmon does: sysfs formats an attribute afresh on
// every read from offset 0, so no value is kept from one call to the next, only the open file.
// An attribute that went away reads ENODEV and is opened again by name. A directory is checked
// by device and inode on every call, so an array or member re-created under the same name (or a
// directory replaced in a captured tree) is opened afresh.
//
// Up to maxScanWorkers arrays, and no more than GOMAXPROCS, are read at once. A Scanner is safe
// for concurrent use; calls are serialised.
type Scanner struct {
	fs     FS
	mu     sync.Mutex
	arrays map[string]*heldDir // by array name
	files  atomic.Int64        // open files held, for maxHeldFiles
}

// heldDir is an open directory (an array's md directory, or a member's dev-* directory, which
// keeps no descriptor of its own) and the attribute files opened below it.
type heldDir struct {
	fd      int
	id      fileID
	attrs   map[string]int      // path relative to the md directory → open file
	texts   map[string]string   // path → text last read, whose memory a read of the same text reuses
	vals    map[string]string   // the attributes read by this call, for parseArray
	members map[string]*heldDir // by dev-* entry name
	listed  bool                // the member's entry was in this call's listing
}

func newHeldDir(fd int, id fileID) *heldDir {
	return &heldDir{fd: fd, id: id, attrs: map[string]int{}, texts: map[string]string{}, vals: map[string]string{},
		members: map[string]*heldDir{}}
}

// fileID identifies a directory across calls.
type fileID struct{ dev, ino uint64 }

// NewScanner returns a Scanner of the arrays below f's root. Close releases its files.
func (f FS) NewScanner() *Scanner { return &Scanner{fs: f, arrays: map[string]*heldDir{}} }

// Close closes every file the scanner holds. The scanner stays usable.
func (s *Scanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, d := range s.arrays {
		s.drop(d)
		delete(s.arrays, n)
	}
	return nil
}

// Arrays reads every array, sorted by name. An array that disappears while it is read is left
// out.
func (s *Scanner) Arrays() ([]Array, error) {
	return s.arraysWith(min(runtime.GOMAXPROCS(0), maxScanWorkers))
}

// arraysWith is Arrays with at most workers goroutines.
func (s *Scanner) arraysWith(workers int) ([]Array, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.fs.blockDir()
	blk, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrRead, dir, err)
	}
	defer unix.Close(blk)
	r := new(scanReader)
	names, err := r.dirNames(blk, dir, "")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	listed := make(map[string]bool, len(names))
	held := make([]*heldDir, len(names))
	for i, n := range names {
		listed[n] = true
		held[i] = s.arrays[n]
	}
	for n, d := range s.arrays {
		if !listed[n] {
			s.drop(d)
			delete(s.arrays, n)
		}
	}
	arrays := make([]Array, len(names))
	errs := make([]error, len(names))
	read := func(r *scanReader, i int) {
		var raw rawArray
		raw, held[i], errs[i] = r.array(s, blk, dir, names[i], held[i])
		if held[i] != nil && errs[i] == nil {
			arrays[i], errs[i] = parseArray(raw)
		}
	}
	if workers = min(workers, len(names)); workers <= 1 {
		for i := range names {
			read(r, i)
		}
	} else {
		next := make(chan int)
		var wg sync.WaitGroup
		for w := range workers {
			wr := r
			if w > 0 {
				wr = new(scanReader)
			}
			wg.Go(func() {
				for i := range next {
					read(wr, i)
				}
			})
		}
		for i := range names {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	out := arrays[:0]
	for i, n := range names {
		if held[i] == nil {
			delete(s.arrays, n)
			continue
		}
		s.arrays[n] = held[i]
		out = append(out, arrays[i])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// drop closes a held directory's files.
func (s *Scanner) drop(d *heldDir) {
	if d == nil {
		return
	}
	for _, fd := range d.attrs {
		unix.Close(fd)
		s.files.Add(-1)
	}
	for _, m := range d.members {
		s.drop(m)
	}
	if d.fd >= 0 {
		unix.Close(d.fd)
		s.files.Add(-1)
	}
}

// scanReader reads attributes and directories with buffers reused from one file to the next.
type scanReader struct {
	attr    [attrSize]byte
	dirents [8192]byte
}

// array reads the attributes of /sys/block/<name>/md through d, the directory held from the
// last call (nil: none). It returns the directory to hold, nil when there is no such array.
func (r *scanReader) array(s *Scanner, blk int, blockDir, name string, d *heldDir) (rawArray, *heldDir, error) {
	var st unix.Stat_t
	err := unix.Fstatat(blk, name+"/md", &st, 0)
	if d != nil && (err != nil || idOf(&st) != d.id) {
		s.drop(d)
		d = nil
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return rawArray{}, nil, nil // not an array, or gone
	}
	dir := filepath.Join(blockDir, name, "md")
	if d == nil {
		fd, err := unix.Openat(blk, name+"/md", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return rawArray{}, nil, nil
		}
		if err != nil {
			return rawArray{}, nil, fmt.Errorf("md: %s: %w: open %s: %v", name, ErrRead, dir, err)
		}
		s.files.Add(1)
		d = newHeldDir(fd, idOf(&st))
	}
	clear(d.vals)
	raw := rawArray{name: name, attrs: d.vals, members: make(map[string]map[string]string, len(d.members))}
	if err := r.attrs(s, d.fd, d, dir, "", scanArrayAttrs); err != nil {
		return rawArray{}, d, fmt.Errorf("md: %s: %w", name, err)
	}
	if loc := raw.attrs["bitmap/location"]; loc != "" && loc != "none" {
		if err := r.attrs(s, d.fd, d, dir, "", scanBitmapAttrs); err != nil {
			return rawArray{}, d, fmt.Errorf("md: %s: %w", name, err)
		}
	}
	if _, err := unix.Seek(d.fd, 0, 0); err != nil {
		return rawArray{}, d, fmt.Errorf("md: %s: %w: rewind %s: %v", name, ErrRead, dir, err)
	}
	ents, err := r.dirNames(d.fd, dir, "dev-")
	if err != nil {
		return rawArray{}, d, fmt.Errorf("md: %s: %w", name, err)
	}
	for _, m := range d.members {
		m.listed = false
	}
	for _, e := range ents {
		dev, ok := strings.CutPrefix(e, "dev-")
		if !ok {
			continue
		}
		m := d.members[e]
		err := unix.Fstatat(d.fd, e, &st, unix.AT_SYMLINK_NOFOLLOW)
		if m != nil && (err != nil || idOf(&st) != m.id) {
			s.drop(m)
			m = nil
		}
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // gone, or not a member directory
		}
		if m == nil {
			m = newHeldDir(-1, idOf(&st))
		}
		d.members[e], m.listed = m, true
		clear(m.vals)
		if err := r.attrs(s, d.fd, m, dir, e+"/", scanMemberAttrs); err != nil {
			return rawArray{}, d, fmt.Errorf("md: %s: member %s: %w", name, dev, err)
		}
		raw.members[dev] = m.vals
	}
	for e, m := range d.members {
		if !m.listed {
			s.drop(m)
			delete(d.members, e)
		}
	}
	return raw, d, nil
}

// attrs reads the named attributes below prefix, relative to the directory dirfd (dir, for
// errors), into h.vals, skipping those that do not exist. Files are held in h.
func (r *scanReader) attrs(s *Scanner, dirfd int, h *heldDir, dir, prefix string, names []string) error {
	for _, n := range names {
		path := n
		if prefix != "" {
			path = prefix + n
		}
		v, err := r.read(s, dirfd, h, path)
		if absent(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrRead, dir, err)
		}
		h.vals[n] = v
	}
	return nil
}

// read returns the text of the attribute at path below dirfd, from the file held in h or
// from one it opens (and holds, unless maxHeldFiles are open).
func (r *scanReader) read(s *Scanner, dirfd int, h *heldDir, path string) (string, error) {
	fds := h.attrs
	if fd, ok := fds[path]; ok {
		b, err := preadAttr(fd, path, r.attr[:])
		if err == nil {
			return h.text(path, b), nil
		}
		// ENODEV: the attribute was removed (a level change, a bitmap removed). Any error:
		// open it again by name.
		unix.Close(fd)
		s.files.Add(-1)
		delete(fds, path)
	}
	if s.files.Load() >= maxHeldFiles {
		return readAt(dirfd, path, r.attr[:])
	}
	fd, err := unix.Openat(dirfd, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	b, err := preadAttr(fd, path, r.attr[:])
	if err != nil {
		unix.Close(fd)
		return "", err
	}
	s.files.Add(1)
	fds[path] = fd
	return h.text(path, b), nil
}

// text returns b, just read from path, as a string: the one read last time when the text is the
// same, which saves an allocation per attribute and scrape (the value is still the one read now).
func (h *heldDir) text(path string, b []byte) string {
	if prev, ok := h.texts[path]; ok && prev == string(b) {
		return prev
	}
	v := string(b)
	h.texts[path] = v
	return v
}

// preadAttr reads the file open at fd from offset 0 into buf and returns its trimmed text.
func preadAttr(fd int, path string, buf []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += k
		if k == 0 || n < len(buf) { // a short read is the end, as in readAt
			break
		}
	}
	return bytes.TrimSpace(buf[:n]), nil
}

// dirNames lists the entries whose names start with prefix in the directory open at fd (dir,
// for errors) from its current offset, without "." and "..".
func (r *scanReader) dirNames(fd int, dir, prefix string) ([]string, error) {
	var names []string
	for {
		n, err := unix.ReadDirent(fd, r.dirents[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read directory %s: %v", ErrRead, dir, err)
		}
		if n <= 0 {
			return names, nil
		}
		names = direntNames(r.dirents[:n], prefix, names)
	}
}

func idOf(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} }
