package mdadmview

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

// MD_DISK_* bit numbers as mdu_disk_info_t.state holds them.
const (
	diskFaulty  = md.DiskFaulty
	diskActive  = md.DiskActive
	diskSync    = md.DiskSync
	diskRemoved = md.DiskRemoved
)

// maxDevs1 is super1's max_devs, the descriptor numbers --detail lists.
const maxDevs1 = 1920

// arrayView is what mdadm's Detail() gathers about one array.
type arrayView struct {
	dev      string
	rdev     uint64
	sizeB    uint64 // BLKGETSIZE64
	sra      *md.SysfsArray
	array    md.ArrayInfo
	external bool
	inactive bool
	st       bool          // the metadata is v1.x (mdadm's st)
	info     *Member       // the superblock of the first active member
	disks    []md.DiskInfo // 2 per role, then the others (mdadm's disks[])
	bmFile   string
	avail    []bool
}

// loadArray opens dev and collects its state; a non-zero rc ends Detail.
func (r *viewer) loadArray(dev string) (*arrayView, int) {
	m, err := bitmap.Open(dev)
	if err != nil {
		r.errf("cannot open %s: %s\n", dev, errnoText(err))
		return nil, 1
	}
	v := &arrayView{dev: dev, rdev: m.Rdev, sizeB: uint64(m.Size)}
	if m.Block {
		if n := r.mdName(m.Rdev); n != "" {
			v.sra, _ = r.fs.SysfsRead(n)
		}
	}
	m.Close()
	d, err := md.OpenDevice(dev)
	if err != nil {
		if v.sra == nil {
			r.errf("%s does not appear to be an md device\n", dev)
			return nil, 1
		}
		r.errf("cannot get array detail for %s: %s\n", dev, errnoText(err))
		return nil, 1
	}
	defer d.Close()
	ai, aerr := d.ArrayInfo()
	if v.sra == nil && aerr != nil {
		r.errf("%s does not appear to be an md device\n", dev)
		return nil, 1
	}
	if s := v.sra; s != nil {
		v.external = s.Major == -1 && s.Minor == -2
		v.inactive = !s.IsActive()
		v.st = s.Major == 1
	} else {
		v.st = ai.MajorVersion == 1
	}
	if aerr != nil {
		if !errors.Is(aerr, syscall.ENODEV) {
			r.errf("cannot get array detail for %s: %s\n", dev, errnoText(aerr))
			return nil, 1
		}
		s := v.sra
		if s.Major == -1 && s.Minor == -1 && len(s.Devs) == 0 {
			r.errf("Array associated with md device %s does not exist.\n", dev)
			return nil, 1
		}
		ai = md.ArrayInfo{MajorVersion: int32(s.Major), MinorVersion: int32(s.Minor), RaidDisks: int32(s.RaidDisks),
			NrDisks: int32(len(s.Devs)), ActiveDisks: int32(s.Active), WorkingDisks: int32(s.Working),
			FailedDisks: int32(s.Failed), SpareDisks: int32(s.Spare)}
	}
	v.array = ai
	var found []md.DiskInfo
	if !v.inactive {
		for n := 0; n < maxDevs1; n++ {
			di, err := d.DiskInfo(n)
			if err != nil {
				if n < int(ai.RaidDisks) {
					r.errf("cannot get device detail for device %d: %s\n", n, errnoText(err))
				}
				continue
			}
			if di.Major == 0 && di.Minor == 0 {
				continue
			}
			found = append(found, di)
		}
	}
	if v.st {
		v.info = r.loadInfo(v, found)
	}
	v.bmFile, _ = d.BitmapFile()
	v.placeDisks(found)
	return v, 0
}

// loadInfo reads the superblock of the first active member whose ctime and
// level match the array's, as Detail() does.
func (r *viewer) loadInfo(v *arrayView, found []md.DiskInfo) *Member {
	var cands []md.DiskInfo
	if v.sra != nil && v.array.RaidDisks == 0 {
		for _, sd := range v.sra.Devs {
			cands = append(cands, md.DiskInfo{Major: sd.Major, Minor: sd.Minor, RaidDisk: sd.RaidDisk})
		}
	}
	for _, di := range found {
		if v.array.RaidDisks > 0 && di.State&diskActive == 0 {
			continue
		}
		cands = append(cands, di)
	}
	for _, di := range cands {
		dv := r.mapDev(uint32(di.Major), uint32(di.Minor), true)
		m, err := bitmap.Open(dv)
		if err != nil {
			continue
		}
		mem, err := LoadMember(m.Reader(), dv)
		m.Close()
		if err != nil {
			continue
		}
		sb := mem.Super
		if v.array.RaidDisks != 0 && (uint32(sb.CreationTime().Unix()) != v.array.Ctime || sb.Level != v.array.Level) {
			continue
		}
		if sb.SetUUID == [16]byte{} {
			continue
		}
		return mem
	}
	return nil
}

// placeDisks lays the members out as Detail()'s disks[]: entries 2k and
// 2k+1 for role k (the member and its replacement), then the others.
func (v *arrayView) placeDisks(found []md.DiskInfo) {
	nd := max(int(v.array.RaidDisks)*2, 0)
	v.disks = make([]md.DiskInfo, nd)
	for i := range v.disks {
		v.disks[i] = md.DiskInfo{State: diskRemoved, Number: -1, RaidDisk: int32(i / 2)}
	}
	if v.inactive && v.sra != nil {
		for _, sd := range v.sra.Devs {
			v.disks = append(v.disks, md.DiskInfo{Number: -1, Major: sd.Major, Minor: sd.Minor,
				RaidDisk: sd.RaidDisk, State: sysState(sd)})
		}
	}
	rd := v.array.RaidDisks
	for _, di := range found {
		journal := di.State&md.DiskJournal != 0
		switch {
		case di.RaidDisk >= 0 && di.RaidDisk < rd && v.disks[di.RaidDisk*2].State == diskRemoved && !journal:
			v.disks[di.RaidDisk*2] = di
		case di.RaidDisk >= 0 && di.RaidDisk < rd && v.disks[di.RaidDisk*2+1].State == diskRemoved && !journal:
			v.disks[di.RaidDisk*2+1] = di
		default:
			v.disks = append(v.disks, di)
		}
	}
}

func sysState(sd md.SysfsDev) int32 {
	var s int32
	if sd.Faulty {
		s |= diskFaulty
	}
	if sd.Sync {
		s |= diskSync
	}
	return s
}

// alive is is_dev_alive: /sys/dev/block/M:m exists.
func (r *viewer) alive(major, minor int32) bool {
	_, err := os.Stat(r.path(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)))
	return err == nil
}

// computeAvail fills v.avail and returns the count of roles with an
// in-sync member.
func (r *viewer) computeAvail(v *arrayView) int {
	n := 0
	v.avail = make([]bool, max(v.array.RaidDisks, 0))
	for d := range v.avail {
		a, b := v.disks[2*d], v.disks[2*d+1]
		if (r.alive(a.Major, a.Minor) && a.State&diskSync != 0) || (r.alive(b.Major, b.Minor) && b.State&diskSync != 0) {
			v.avail[d] = true
			n++
		}
	}
	return n
}

// enough is mdadm's enough(): can the array run with the roles in avail.
func enough(level, raidDisks, layout int32, clean bool, avail []bool) bool {
	n := int32(0)
	for _, a := range avail {
		if a {
			n++
		}
	}
	switch level {
	case 10:
		copies := (layout & 255) * ((layout >> 8) & 255)
		first := int32(0)
		for {
			cnt, this := 0, first
			for k := int32(0); k < copies; k++ {
				if avail[this] {
					cnt++
				}
				this = (this + 1) % raidDisks
			}
			if cnt == 0 {
				return false
			}
			first = (first + layout&255) % raidDisks
			if first == 0 {
				return true
			}
		}
	case -4:
		return n >= 1
	case -1, 0:
		return n == raidDisks
	case 1:
		return n >= 1
	case 4, 5:
		if level == 4 && n == raidDisks-1 && !avail[raidDisks-1] {
			return true
		}
		if clean {
			return n >= raidDisks-1
		}
		return n >= raidDisks
	case 6:
		if clean {
			return n >= raidDisks-2
		}
		return n >= raidDisks
	}
	return false
}

// bitmapDirty is IsBitmapDirty: 1 dirty, 0 clean, -1 unreadable.
func bitmapDirty(dev string) int {
	m, err := bitmap.Open(dev)
	if err != nil {
		return -1
	}
	defer m.Close()
	rd := m.Reader()
	sb, _, err := rd.ProbeSuperblock()
	if err != nil {
		return -1
	}
	bm, err := rd.ReadBitmap(sb, bitmap.WithMaxExtents(0))
	if err != nil || bm == nil {
		return -1
	}
	if bm.Super.Nodes == 0 {
		return 0 // mdadm only counts slots of a clustered bitmap
	}
	for _, s := range bm.Slots {
		if s.Dirty > 0 {
			return 1
		}
	}
	return 0
}
