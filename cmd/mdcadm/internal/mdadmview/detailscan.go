package mdadmview

import (
	"fmt"
	"os"
	"strings"

	"mdcluster.dev/mdcluster/md"
)

// detailScan is mdadm's misc_scan for --detail: every array of
// /proc/mdstat, oldest first, members of external containers last.
func (r *viewer) detailScan() int {
	ents := r.fs.MdadmStat()
	rc := 0
	maps := r.readMap()
	for members := 0; members <= 1; members++ {
		for i := len(ents) - 1; i >= 0; i-- {
			e := ents[i]
			member := 0
			if strings.HasPrefix(e.Metadata, "external:/") {
				member = 1
			}
			if member != members {
				continue
			}
			name := ""
			for _, m := range maps {
				if m.devnm == e.Devnm && m.path != "" && m.path != "/unknown" {
					if _, err := os.Stat(m.path); err == nil {
						name = m.path
					}
					break
				}
			}
			if name == "" {
				name = "/dev/" + e.Devnm
			}
			rc |= r.detail(name)
		}
	}
	return rc
}

// detailExport is --detail --export.
func (r *viewer) detailExport(v *arrayView, str string) int {
	a := v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	if a.RaidDisks != 0 {
		if str != "" {
			p("MD_LEVEL=%s\n", str)
		}
		p("MD_DEVICES=%d\n", a.RaidDisks)
	} else {
		p("MD_DEVICES=%d\n", a.NrDisks)
	}
	p("MD_METADATA=%s\n", r.metadataText(v))
	var uuid [4]uint32
	var path string
	found := false
	if v.info != nil {
		uuid = mapUUID(v.info.Super.SetUUID)
		p("MD_UUID=%s\n", uuidString(v.info.Super.SetUUID))
		for _, m := range r.readMap() {
			if m.uuid == uuid {
				path, found = m.path, true
				break
			}
		}
	} else {
		devnm := r.devnm(v.rdev)
		for _, m := range r.readMap() {
			if m.devnm == devnm {
				path, found = m.path, true
				p("MD_UUID=%08x:%08x:%08x:%08x\n", m.uuid[0], m.uuid[1], m.uuid[2], m.uuid[3])
				break
			}
		}
	}
	if found && strings.HasPrefix(path, "/dev/md/") {
		p("MD_DEVNAME=%s\n", strings.NewReplacer(" ", "_", "\t", "_", "/", "-").Replace(path[8:]))
	}
	if v.info != nil {
		if name := exportName(v.info.Super); len(name) > 0 {
			p("MD_NAME=%s\n", name)
		}
	}
	if !r.q.NoDevices && v.sra != nil {
		for _, d := range v.sra.Devs {
			sys := []byte(d.Name)
			for i, c := range sys {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
					sys[i] = '_'
				}
			}
			if d.RaidDisk >= 0 {
				p("MD_DEVICE_%s_ROLE=%d\n", sys, d.RaidDisk)
			} else {
				p("MD_DEVICE_%s_ROLE=spare\n", sys)
			}
			if dv := r.mapDev(uint32(d.Major), uint32(d.Minor), false); dv != "" {
				p("MD_DEVICE_%s_DEV=%s\n", sys, dv)
			}
		}
	}
	return 0
}

// DetailJSON is --detail --json: the array as the md driver and the first
// active member's superblock describe it.
type DetailJSON struct {
	Device         string             `json:"device"`
	Metadata       string             `json:"metadata"`
	CreationTime   *Time              `json:"creation_time,omitempty"`
	UpdateTime     *Time              `json:"update_time,omitempty"`
	Level          string             `json:"level,omitempty"`
	ArraySizeBytes uint64             `json:"array_size_bytes"`
	RaidDevices    int32              `json:"raid_devices"`
	TotalDevices   int32              `json:"total_devices"`
	Bitmap         string             `json:"bitmap,omitempty"` // internal, clustered or a file
	State          []string           `json:"state"`
	Active         int32              `json:"active_devices"`
	Working        int32              `json:"working_devices"`
	Failed         int32              `json:"failed_devices"`
	Spare          int32              `json:"spare_devices"`
	Layout         int32              `json:"layout"`
	ChunkSizeBytes int32              `json:"chunk_size_bytes"`
	Consistency    string             `json:"consistency_policy,omitempty"`
	SyncAction     string             `json:"sync_action,omitempty"`
	SyncPercent    *int               `json:"sync_percent,omitempty"`
	Name           string             `json:"name,omitempty"`
	ClusterName    string             `json:"cluster_name,omitempty"`
	UUID           string             `json:"uuid,omitempty"`
	Events         *uint64            `json:"events,omitempty"`
	Members        []DetailJSONMember `json:"members"`
}

// DetailJSONMember is one member line of --detail.
type DetailJSONMember struct {
	Number   int32    `json:"number"` // -1 for none
	Major    int32    `json:"major"`
	Minor    int32    `json:"minor"`
	RaidDisk int32    `json:"raid_device"` // -1 for none
	State    []string `json:"state"`
	Device   string   `json:"device,omitempty"`
}

func (r *viewer) detailJSON(v *arrayView) int {
	a := v.array
	r.computeAvail(v)
	j := DetailJSON{Device: v.dev, Metadata: r.metadataText(v), Level: knownLevel(a.Level), ArraySizeBytes: v.sizeB,
		RaidDevices: a.RaidDisks, TotalDevices: a.NrDisks, Active: a.ActiveDisks, Working: a.WorkingDisks,
		Failed: a.FailedDisks, Spare: a.SpareDisks, Layout: a.Layout, ChunkSizeBytes: a.ChunkSize,
		Members: []DetailJSONMember{}}
	if a.Ctime != 0 {
		j.CreationTime = &Time{Time: timeIn(a.Ctime, r.loc)}
	}
	if a.Utime != 0 {
		j.UpdateTime = &Time{Time: timeIn(a.Utime, r.loc)}
	}
	switch {
	case v.bmFile != "":
		j.Bitmap = v.bmFile
	case a.State&md.ArrayStateClustered != 0:
		j.Bitmap = "clustered"
	case a.State&md.ArrayStateBitmapPresent != 0:
		j.Bitmap = "internal"
	}
	if v.inactive {
		j.State = []string{"inactive"}
	} else if a.RaidDisks != 0 {
		j.State = []string{r.arrayState(v)}
		if n := countTrue(v.avail); n != int(a.RaidDisks) {
			if enough(a.Level, a.RaidDisks, a.Layout, true, v.avail) {
				j.State = append(j.State, "degraded")
			} else {
				j.State = append(j.State, "FAILED")
			}
		}
	}
	if v.sra != nil {
		j.Consistency = v.sra.Consistency
	}
	devnm := r.devnm(v.rdev)
	for _, e := range r.fs.MdadmStat() {
		if e.Devnm == devnm && e.Percent >= 0 {
			j.SyncAction = []string{"recovery", "resync", "reshape", "check"}[e.Resync]
			pct := e.Percent
			j.SyncPercent = &pct
		}
	}
	if v.info != nil {
		sb := v.info.Super
		j.Name, j.UUID = sb.Name(), uuidString(sb.SetUUID)
		ev := sb.Events
		j.Events = &ev
		if bm := v.info.Bitmap; bm != nil && bm.Nodes > 0 {
			j.ClusterName = bm.Name()
		}
	}
	for d, disk := range v.disks {
		if disk.Major == 0 && disk.Minor == 0 && (d >= int(a.RaidDisks)*2 || d&1 == 1) {
			continue
		}
		j.Members = append(j.Members, DetailJSONMember{Number: disk.Number, Major: disk.Major, Minor: disk.Minor,
			RaidDisk: disk.RaidDisk, State: stateWords(disk.State),
			Device: r.mapDev(uint32(disk.Major), uint32(disk.Minor), false)})
	}
	WriteJSON(r.out, j)
	return 0
}

func stateWords(s int32) []string {
	var w []string
	for _, f := range []struct {
		bit  int32
		name string
	}{{diskFaulty, "faulty"}, {diskActive, "active"}, {diskSync, "sync"}, {diskRemoved, "removed"},
		{md.DiskWriteMostly, "writemostly"}, {md.DiskFailFast, "failfast"}, {md.DiskJournal, "journal"}} {
		if s&f.bit != 0 {
			w = append(w, f.name)
		}
	}
	if len(w) == 0 {
		w = []string{"spare"}
	}
	return w
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}
