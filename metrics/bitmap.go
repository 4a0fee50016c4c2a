package metrics

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

var (
	bmReadDesc = mdDesc("bitmap_read_success",
		"Whether the last read of the write-intent bitmap from a member device succeeded (1) or not (0).", "member")
	bmAgeDesc = mdDesc("bitmap_read_age_seconds",
		"Time since the bitmap figures were read from disk; they are reused for a while to bound I/O.")
	bmNodesDesc = mdDesc("cluster_nodes",
		"Number of md-cluster node slots in the array's clustered bitmap, from its on-disk superblock.", "cluster")
	bmChunksDesc = mdDesc("bitmap_slot_chunks", "Number of chunks (bits) in one slot of the write-intent bitmap.", "slot")
	bmDirtyDesc  = mdDesc("bitmap_slot_dirty_chunks",
		"Number of chunks marked dirty in one slot of the write-intent bitmap on disk: regions a resync must cover.", "slot")
	bmEventsDesc  = mdDesc("bitmap_slot_events", "Array event count stored in one slot of the bitmap when it was last written.", "slot")
	bmClearedDesc = mdDesc("bitmap_slot_events_cleared", "Array event count stored in one slot of the bitmap when its bits were last cleared.", "slot")
)

// bitmapReading is one read of an array's bitmap from a member device.
type bitmapReading struct {
	key    string // array name and UUID
	at     time.Time
	member string
	bm     *bitmap.Bitmap
	err    error
}

// bitmapCache reads write-intent bitmaps from member devices and reuses each reading for ttl,
// so a scrape every few seconds costs at most one bounded read per array and ttl.
type bitmapCache struct {
	devDir string
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]bitmapReading
}

func newBitmapCache(devDir string, ttl time.Duration, now func() time.Time) *bitmapCache {
	if ttl <= 0 {
		ttl = DefaultBitmapTTL
	}
	if now == nil {
		now = time.Now
	}
	return &bitmapCache{devDir: devDir, ttl: ttl, now: now, entries: map[string]bitmapReading{}}
}

// get returns a's bitmap reading, reading it again once the cached one is older than ttl.
func (c *bitmapCache) get(a *md.Array) bitmapReading {
	key := a.Name + "/" + a.UUID.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.entries[key]; ok && c.now().Sub(r.at) < c.ttl {
		return r
	}
	r := bitmapReading{key: key, at: c.now()}
	r.member, r.bm, r.err = readArrayBitmap(c.devDir, a)
	c.entries[key] = r
	return r
}

// prune forgets arrays not seen in the last scrape.
func (c *bitmapCache) prune(seen map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if !seen[k] {
			delete(c.entries, k)
		}
	}
}

// readArrayBitmap reads a's bitmap through its first in-sync member's block device.
func readArrayBitmap(devDir string, a *md.Array) (string, *bitmap.Bitmap, error) {
	minor, ok := superMinor(a.MetadataVersion)
	if !ok {
		return "", nil, fmt.Errorf("read bitmap of %s: metadata %q has no v1.x superblock", a.Name, a.MetadataVersion)
	}
	var member string
	for _, m := range a.Members {
		if m.Has(md.MemberInSync) && !m.Has(md.MemberFaulty) && m.Slot >= 0 {
			member = m.Name
			break
		}
	}
	if member == "" {
		return "", nil, fmt.Errorf("read bitmap of %s: no in-sync member", a.Name)
	}
	bm, err := readBitmapFrom(filepath.Join(devDir, member), minor)
	if err != nil {
		return member, bm, fmt.Errorf("read bitmap of %s from %s: %w", a.Name, member, err)
	}
	return member, bm, nil
}

// readBitmapFrom reads the bitmap of the v1.<minor> superblock on the device at path. Bits are
// streamed through the bitmap package's bounded buffer and no extents are kept. The device's
// page cache is dropped around the read: md writes its bitmap with its own bios, so cached pages
// would show stale bits.
func readBitmapFrom(path string, minor int) (*bitmap.Bitmap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	dropCache(f)
	defer dropCache(f)
	r := bitmap.NewReader(f, size)
	sb, err := r.Superblock(minor)
	if err != nil {
		return nil, err
	}
	return r.ReadBitmap(sb, bitmap.WithMaxExtents(0))
}

// superMinor returns 0, 1 or 2 for metadata "1.0", "1.1", "1.2".
func superMinor(v string) (int, bool) {
	s, ok := strings.CutPrefix(v, "1.")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n <= 2
}

// sendBitmap reports a bitmap reading: success always, figures for what could be read.
func sendBitmap(ch chan<- prometheus.Metric, dev string, r bitmapReading, now time.Time) {
	d := labelPair("device", dev)
	emit(ch, bmReadDesc, prometheus.GaugeValue, boolf(r.err == nil), d, labelPair("member", r.member))
	emit(ch, bmAgeDesc, prometheus.GaugeValue, now.Sub(r.at).Seconds(), d)
	if r.bm == nil {
		return
	}
	if r.bm.Super.Version == bitmap.BitmapVersionClustered {
		emit(ch, bmNodesDesc, prometheus.GaugeValue, float64(r.bm.Super.Nodes), d, labelPair("cluster", r.bm.Super.Name()))
	}
	for _, s := range r.bm.Slots {
		if s.Err != nil || s.Super == nil {
			continue
		}
		l := labelPair("slot", slotLabel(s.Index))
		emit(ch, bmChunksDesc, prometheus.GaugeValue, float64(s.Chunks), d, l)
		emit(ch, bmDirtyDesc, prometheus.GaugeValue, float64(s.Dirty), d, l)
		emit(ch, bmEventsDesc, prometheus.GaugeValue, float64(s.Super.Events), d, l)
		emit(ch, bmClearedDesc, prometheus.GaugeValue, float64(s.Super.EventsCleared), d, l)
	}
}
