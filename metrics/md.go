package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
		if slots != nil {
			sendSlot(ch, slots, arrays[i].Name, arrays[i].UUID.String())
		}
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
		dev := labelPair("device", s.Name)
		emit(ch, f.disksRequired, prometheus.GaugeValue, float64(s.DisksTotal), dev)
		emit(ch, f.disks, prometheus.GaugeValue, float64(s.DisksActive), dev, diskStatePairs[0])
		emit(ch, f.disks, prometheus.GaugeValue, float64(s.DisksFailed), dev, diskStatePairs[1])
		emit(ch, f.disks, prometheus.GaugeValue, float64(s.DisksSpare), dev, diskStatePairs[2])
		for i, st := range mdstatStates {
			emit(ch, f.state, prometheus.GaugeValue, boolf(s.ActivityState == st.activity), dev, mdstatStatePairs[i])
		}
		emit(ch, f.blocks, prometheus.GaugeValue, float64(s.BlocksTotal), dev)
		emit(ch, f.blocksSynced, prometheus.GaugeValue, float64(s.BlocksSynced), dev)
	}
	for _, a := range arrays {
		dev := labelPair("device", a.Name)
		switch a.Level {
		case "", "container", "imsm", "ddf":
			// No layout to count disks in (inactive or a container).
		default:
			emit(ch, f.raidDisks, prometheus.GaugeValue, float64(a.RaidDisks), dev)
		}
		emit(ch, f.degraded, prometheus.GaugeValue, float64(a.Degraded), dev)
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
	dev := labelPair("device", a.Name)
	emit(ch, mdInfoDesc, prometheus.GaugeValue, 1, dev, labelPair("uuid", uuid), labelPair("level", a.Level),
		labelPair("metadata_version", a.MetadataVersion))
	for i, s := range arrayStates {
		emit(ch, mdArrayStateDesc, prometheus.GaugeValue, boolf(a.State == s), dev, arrayStatePairs[i])
	}
	if a.SyncAction != "" { // levels without redundancy have no sync thread
		for i, s := range syncActions {
			emit(ch, mdSyncActionDesc, prometheus.GaugeValue, boolf(a.SyncAction == s), dev, syncActionPairs[i])
		}
	}
	if p := a.SyncCompleted; p != nil && !p.Delayed && p.Total > 0 {
		emit(ch, mdSyncRatioDesc, prometheus.GaugeValue, float64(p.Done)/float64(p.Total), dev)
	}
	if a.SyncSpeed != nil {
		emit(ch, mdSyncSpeedDesc, prometheus.GaugeValue, float64(*a.SyncSpeed)*1024, dev)
	}
	if a.SyncMax != md.NoSyncMax {
		emit(ch, mdSyncMaxDesc, prometheus.GaugeValue, float64(a.SyncMax), dev)
	}
	if a.SyncAction != "" {
		emit(ch, mdMismatchDesc, prometheus.GaugeValue, float64(a.MismatchCount), dev)
	}
	emit(ch, mdComponentDesc, prometheus.GaugeValue, float64(a.ComponentSize)*1024, dev)
	if a.Bitmap != nil {
		emit(ch, mdChunkDesc, prometheus.GaugeValue, float64(a.Bitmap.ChunkSize), dev)
		emit(ch, mdClusteredDesc, prometheus.GaugeValue, boolf(a.Bitmap.Clustered()), dev)
	}
	for _, m := range a.Members {
		mem := labelPair("member", m.Name)
		for i, f := range memberFlags {
			emit(ch, mdMemberDesc, prometheus.GaugeValue, boolf(m.Has(f)), dev, mem, memberFlagPairs[i])
		}
		emit(ch, mdMemberSlotDesc, prometheus.GaugeValue, float64(m.Slot), dev, mem)
		emit(ch, mdMemberErrDesc, prometheus.CounterValue, float64(m.Errors), dev, mem)
	}
}

func slotLabel(i int) string { return strconv.Itoa(i) }

// The state label pairs of the state-set series, in the order of the values they label.
var (
	arrayStatePairs  = statePairs("state", arrayStates)
	syncActionPairs  = statePairs("action", syncActions)
	memberFlagPairs  = statePairs("state", memberFlags)
	diskStatePairs   = statePairs("state", []string{"active", "failed", "spare"})
	mdstatStatePairs = func() []*dto.LabelPair {
		p := make([]*dto.LabelPair, len(mdstatStates))
		for i, s := range mdstatStates {
			p[i] = labelPair("state", s.label)
		}
		return p
	}()
)

func statePairs[S ~string](label string, values []S) []*dto.LabelPair {
	p := make([]*dto.LabelPair, len(values))
	for i, v := range values {
		p[i] = labelPair(label, string(v))
	}
	return p
}

// sharedPair is a label pair and the strings it points to, in one allocation.
type sharedPair struct {
	dto.LabelPair
	name, value string
}

// labelPair returns a label pair for emit. A pair is shared by every series of an array, member
// or state value: gathering and encoding only read a metric's labels.
func labelPair(name, value string) *dto.LabelPair {
	p := &sharedPair{name: name, value: value}
	p.Name, p.Value = &p.name, &p.value
	return &p.LabelPair
}

// sample is one series sent by emit: what prometheus.MustNewConstMetric builds, in one
// allocation, with label pairs shared rather than copied. A scrape of many arrays sends thousands.
type sample struct {
	desc    *prometheus.Desc
	value   float64
	gauge   dto.Gauge
	counter dto.Counter
	labels  [4]*dto.LabelPair
	n       int
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels[:s.n:s.n]
	if s.counter.Value != nil {
		out.Counter = &s.counter
	} else {
		out.Gauge = &s.gauge
	}
	return nil
}

// emit sends one series of d, a gauge or a counter, labelled with pairs: one per label of d, in
// any order (they are sorted by name, as the registry expects). Label values that are not UTF-8
// go through prometheus.MustNewConstMetric, which refuses them as it always did.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, pairs ...*dto.LabelPair) {
	s := &sample{desc: d, value: v, n: len(pairs)}
	for i, p := range pairs {
		if !utf8.ValidString(*p.Value) {
			values := make([]string, len(pairs))
			for j, p := range pairs {
				values[j] = *p.Value
			}
			ch <- prometheus.MustNewConstMetric(d, t, v, values...)
			return
		}
		// Insertion sort by name: series carry their labels sorted, as MakeLabelPairs leaves them.
		j := i
		for ; j > 0 && *s.labels[j-1].Name > *p.Name; j-- {
			s.labels[j] = s.labels[j-1]
		}
		s.labels[j] = p
	}
	if t == prometheus.CounterValue {
		s.counter.Value = &s.value
	} else {
		s.gauge.Value = &s.value
	}
	ch <- s
}
