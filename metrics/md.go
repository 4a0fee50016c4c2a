package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"mdcluster.dev/mdcluster/md"
)

// MDOptions configures the md collector.
type MDOptions struct {
	// FS reads /sys/block/mdN/md and /proc/mdstat below its root.
	FS md.FS
	// NodeCompat also exports node_exporter's node_md_* figures under their names, so existing
	// dashboards keep working next to (or instead of) node_exporter's mdadm collector.
	NodeCompat bool
	// DevDir holds the members' block device nodes ("/dev"); the write-intent bitmap is read
	// from the first in-sync member there. "" turns bitmap reads off.
	DevDir string
	// BitmapTTL is how long a bitmap read from disk is reused; 0 means DefaultBitmapTTL.
	BitmapTTL time.Duration
	// Now is the clock for the bitmap cache; nil means time.Now.
	Now func() time.Time
	// KernelLog is the kernel log device ("/dev/kmsg") where md-cluster logs the slot this node
	// joined each clustered array with; "" turns the slot figure off. It is read again after
	// BitmapTTL.
	KernelLog string
}

// DefaultBitmapTTL is how long a bitmap read from disk is reused by default.
const DefaultBitmapTTL = 30 * time.Second

// mdCollector reports md arrays from sysfs and /proc/mdstat, and their bitmaps from disk.
type mdCollector struct {
	fs         md.FS
	scan       *md.Scanner // keeps sysfs attributes open from one scrape to the next
	nodeCompat bool
	bitmaps    *bitmapCache
	slots      *slotLog
	log        *slog.Logger
}

// AddMD adds the md collector ("md") to the set. It reads sysfs through an md.Scanner, which
// keeps the attribute files open from one scrape to the next and reads them afresh each time.
func (s *Set) AddMD(o MDOptions) *Set {
	c := &mdCollector{fs: o.FS, scan: o.FS.NewScanner(), nodeCompat: o.NodeCompat, log: s.log.With("collector", "md")}
	if o.DevDir != "" {
		c.bitmaps = newBitmapCache(o.DevDir, o.BitmapTTL, o.Now)
	}
	if o.KernelLog != "" {
		c.slots = &slotLog{path: o.KernelLog, ttl: o.BitmapTTL, now: o.Now}
		if c.slots.ttl <= 0 {
			c.slots.ttl = DefaultBitmapTTL
		}
		if c.slots.now == nil {
			c.slots.now = time.Now
		}
	}
	return s.add("md", c)
}

// mdstatStates are node_md_state's state label values, each with the procfs activity state
// that sets it, as node_exporter's mdadm collector reports them.
var mdstatStates = []struct{ label, activity string }{
	{"active", "active"}, {"inactive", "inactive"}, {"recovering", "recovering"},
	{"resync", "resyncing"}, {"check", "checking"},
}

// arrayStates and syncActions are the state label values of the state-set series.
var (
	arrayStates = []md.ArrayState{md.ArrayClear, md.ArrayInactive, md.ArraySuspended, md.ArrayReadonly,
		md.ArrayReadAuto, md.ArrayClean, md.ArrayActive, md.ArrayWritePending, md.ArrayActiveIdle, md.ArrayBroken}
	syncActions = []md.SyncAction{md.SyncIdle, md.SyncFrozen, md.SyncResync, md.SyncRecover,
		md.SyncCheck, md.SyncRepair, md.SyncReshape}
	memberFlags = []md.MemberFlag{md.MemberInSync, md.MemberFaulty, md.MemberSpare, md.MemberWriteMostly,
		md.MemberBlocked, md.MemberWriteError, md.MemberWantReplacement, md.MemberReplacement}
)

func (c *mdCollector) describe(ch chan<- *prometheus.Desc) {
	for _, f := range []*mdstatDescs{nodeMD, clusterMD} {
		if f == nodeMD && !c.nodeCompat {
			continue
		}
		for _, d := range f.all() {
			ch <- d
		}
	}
	for _, d := range mdDescs {
		ch <- d
	}
}

func (c *mdCollector) update(ch chan<- prometheus.Metric) error {
	stats, err := c.fs.MDStat()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: md driver not loaded: %v", ErrNoData, err)
	}
	if err != nil {
		return fmt.Errorf("md collector: %w", err)
	}
	arrays, err := c.scan.Arrays()
	if err != nil {
		return fmt.Errorf("md collector: %w", err)
	}
	if c.nodeCompat {
		nodeMD.send(ch, stats, arrays)
	}
	clusterMD.send(ch, stats, arrays)
	var slots map[string]int
	if c.slots != nil {
		if slots, err = c.slots.get(); err != nil {
			c.log.Debug("cannot read md-cluster slots", "err", err)
		}
	}
	seen := make(map[string]bool, len(arrays))
	for i := range arrays {
		c.sendArray(ch, &arrays[i])
		sendSlot(ch, slots, arrays[i].Name, arrays[i].UUID.String())
		if c.bitmaps != nil && arrays[i].Bitmap != nil && arrays[i].Bitmap.Location != "file" {
			r := c.bitmaps.get(&arrays[i])
			seen[r.key] = true
			if r.err != nil {
				c.log.Debug("cannot read bitmap", "device", arrays[i].Name, "member", r.member, "err", r.err)
			}
			sendBitmap(ch, arrays[i].Name, r, c.bitmaps.now())
		}
	}
	if c.bitmaps != nil {
		c.bitmaps.prune(seen)
	}
	return nil
}

// mdstatDescs are the node_exporter figures under one prefix.
type mdstatDescs struct {
	state, disks, disksRequired, blocks, blocksSynced, degraded, raidDisks *prometheus.Desc
}

func newMDStatDescs(ns string) *mdstatDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "md", name), help, append([]string{"device"}, labels...), nil)
	}
	return &mdstatDescs{
		state:         d("state", "Whether the array is in this state as /proc/mdstat shows it (active, inactive, recovering, resync, check).", "state"),
		disks:         d("disks", "Number of the array's member disks that are active, failed or spare, from /proc/mdstat.", "state"),
		disksRequired: d("disks_required", "Number of disks the array is made of when complete, from /proc/mdstat."),
		blocks:        d("blocks", "Size of the array in 1 KiB blocks, from /proc/mdstat."),
		blocksSynced:  d("blocks_synced", "Number of 1 KiB blocks synced so far by a running sync, or the size when none runs, from /proc/mdstat."),
		degraded:      d("degraded", "Number of the array's member disks that are missing, from sysfs degraded."),
		raidDisks:     d("raid_disks", "Number of member disks the array's layout has, from sysfs raid_disks."),
	}
}

func (f *mdstatDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{f.state, f.disks, f.disksRequired, f.blocks, f.blocksSynced, f.degraded, f.raidDisks}
}

var (
	nodeMD    = newMDStatDescs("node")
	clusterMD = newMDStatDescs(Namespace)
)

// send reports the mdstat figures and sysfs degraded and raid_disks the way node_exporter's
// mdadm collector does.
func (f *mdstatDescs) send(ch chan<- prometheus.Metric, stats []procfs.MDStat, arrays []md.Array) {
	for _, s := range stats {
		gauge(ch, f.disksRequired, float64(s.DisksTotal), s.Name)
		gauge(ch, f.disks, float64(s.DisksActive), s.Name, "active")
		gauge(ch, f.disks, float64(s.DisksFailed), s.Name, "failed")
		gauge(ch, f.disks, float64(s.DisksSpare), s.Name, "spare")
		for _, st := range mdstatStates {
			gauge(ch, f.state, boolf(s.ActivityState == st.activity), s.Name, st.label)
		}
		gauge(ch, f.blocks, float64(s.BlocksTotal), s.Name)
		gauge(ch, f.blocksSynced, float64(s.BlocksSynced), s.Name)
	}
	for _, a := range arrays {
		switch a.Level {
		case "", "container", "imsm", "ddf":
			// No layout to count disks in (inactive or a container).
		default:
			gauge(ch, f.raidDisks, float64(a.RaidDisks), a.Name)
		}
		gauge(ch, f.degraded, float64(a.Degraded), a.Name)
	}
}

func mdDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "md", name), help, append([]string{"device"}, labels...), nil)
}

var (
	mdInfoDesc = mdDesc("info", "Identity of an md array: UUID, RAID level and metadata version; always 1.",
		"uuid", "level", "metadata_version")
	mdArrayStateDesc = mdDesc("array_state", "Whether sysfs array_state has this value (1) or not (0).", "state")
	mdSyncActionDesc = mdDesc("sync_action", "Whether the sync thread does this now, from sysfs sync_action (1) or not (0).", "action")
	mdSyncRatioDesc  = mdDesc("sync_completed_ratio", "Fraction of the running sync that is done, from sysfs sync_completed; absent when no sync runs.")
	mdSyncSpeedDesc  = mdDesc("sync_speed_bytes_per_second", "Speed of the running sync over the last seconds, from sysfs sync_speed; absent when no sync runs.")
	mdSyncMaxDesc    = mdDesc("sync_max_sectors", "Sector where a sync stops, from sysfs sync_max; absent when it is unlimited.")
	mdMismatchDesc   = mdDesc("mismatched_sectors", "Sectors found different by the last check or repair, from sysfs mismatch_cnt.")
	mdComponentDesc  = mdDesc("component_size_bytes", "Space used on each member device, from sysfs component_size.")
	mdChunkDesc      = mdDesc("bitmap_chunk_size_bytes", "Bytes of the array covered by one bit of its write-intent bitmap, from sysfs bitmap/chunksize.")
	mdClusteredDesc  = mdDesc("bitmap_clustered", "Whether the array's bitmap has one slot per md-cluster node (1) or not (0).")
	mdMemberDesc     = mdDesc("member_state", "Whether a member device's sysfs state includes this flag (1) or not (0).", "member", "state")
	mdMemberSlotDesc = mdDesc("member_slot", "Role of a member device in the array, from sysfs slot; -1 for a spare or failed device.", "member")
	mdMemberErrDesc  = mdDesc("member_corrected_read_errors_total", "Read errors corrected on a member device since it was added, from sysfs errors.", "member")

	mdDescs = []*prometheus.Desc{mdInfoDesc, mdArrayStateDesc, mdSyncActionDesc, mdSyncRatioDesc, mdSyncSpeedDesc,
		mdSyncMaxDesc, mdMismatchDesc, mdComponentDesc, mdChunkDesc, mdClusteredDesc, mdMemberDesc, mdMemberSlotDesc,
		mdMemberErrDesc, clusterSlotDesc, bmReadDesc, bmNodesDesc, bmChunksDesc, bmDirtyDesc, bmEventsDesc, bmClearedDesc, bmAgeDesc}
)

// sendArray reports one array's sysfs figures.
func (c *mdCollector) sendArray(ch chan<- prometheus.Metric, a *md.Array) {
	uuid := ""
	if a.UUID != (md.UUID{}) {
		uuid = a.UUID.String()
	}
	gauge(ch, mdInfoDesc, 1, a.Name, uuid, a.Level, a.MetadataVersion)
	for _, s := range arrayStates {
		gauge(ch, mdArrayStateDesc, boolf(a.State == s), a.Name, string(s))
	}
	if a.SyncAction != "" { // levels without redundancy have no sync thread
		for _, s := range syncActions {
			gauge(ch, mdSyncActionDesc, boolf(a.SyncAction == s), a.Name, string(s))
		}
	}
	if p := a.SyncCompleted; p != nil && !p.Delayed && p.Total > 0 {
		gauge(ch, mdSyncRatioDesc, float64(p.Done)/float64(p.Total), a.Name)
	}
	if a.SyncSpeed != nil {
		gauge(ch, mdSyncSpeedDesc, float64(*a.SyncSpeed)*1024, a.Name)
	}
	if a.SyncMax != md.NoSyncMax {
		gauge(ch, mdSyncMaxDesc, float64(a.SyncMax), a.Name)
	}
	if a.SyncAction != "" {
		gauge(ch, mdMismatchDesc, float64(a.MismatchCount), a.Name)
	}
	gauge(ch, mdComponentDesc, float64(a.ComponentSize)*1024, a.Name)
	if a.Bitmap != nil {
		gauge(ch, mdChunkDesc, float64(a.Bitmap.ChunkSize), a.Name)
		gauge(ch, mdClusteredDesc, boolf(a.Bitmap.Clustered()), a.Name)
	}
	for _, m := range a.Members {
		for _, f := range memberFlags {
			gauge(ch, mdMemberDesc, boolf(m.Has(f)), a.Name, m.Name, string(f))
		}
		gauge(ch, mdMemberSlotDesc, float64(m.Slot), a.Name, m.Name)
		counter(ch, mdMemberErrDesc, float64(m.Errors), a.Name, m.Name)
	}
}

func slotLabel(i int) string { return strconv.Itoa(i) }
