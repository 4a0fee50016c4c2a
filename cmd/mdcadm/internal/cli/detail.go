package cli

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
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
	sra      *sysArray
	array    md.ArrayInfo
	external bool
	inactive bool
	st       bool              // the metadata is v1.x (mdadm's st)
	info     *mdadmview.Member // the superblock of the first active member
	disks    []md.DiskInfo     // 2 per role, then the others (mdadm's disks[])
	bmFile   string
	avail    []bool
}

// loadArray opens dev and collects its state; a non-zero rc ends Detail.
func (r *runner) loadArray(dev string) (*arrayView, int) {
	m, err := openMember(dev)
	if err != nil {
		r.env.errf("cannot open %s: %s\n", dev, errnoText(err))
		return nil, 1
	}
	v := &arrayView{dev: dev, rdev: m.rdev, sizeB: uint64(m.size)}
	if m.blk {
		if n := r.env.mdName(m.rdev); n != "" {
			v.sra, _ = r.env.readArray(n)
		}
	}
	m.Close()
	d, err := md.OpenDevice(dev)
	if err != nil {
		if v.sra == nil {
			r.env.errf("%s does not appear to be an md device\n", dev)
			return nil, 1
		}
		r.env.errf("cannot get array detail for %s: %s\n", dev, errnoText(err))
		return nil, 1
	}
	defer d.Close()
	ai, aerr := d.ArrayInfo()
	if v.sra == nil && aerr != nil {
		r.env.errf("%s does not appear to be an md device\n", dev)
		return nil, 1
	}
	if s := v.sra; s != nil {
		v.external = s.major == -1 && s.minor == -2
		v.inactive = !s.isActive()
		v.st = s.major == 1
	} else {
		v.st = ai.MajorVersion == 1
	}
	if aerr != nil {
		if !errors.Is(aerr, syscall.ENODEV) {
			r.env.errf("cannot get array detail for %s: %s\n", dev, errnoText(aerr))
			return nil, 1
		}
		s := v.sra
		if s.major == -1 && s.minor == -1 && len(s.devs) == 0 {
			r.env.errf("Array associated with md device %s does not exist.\n", dev)
			return nil, 1
		}
		ai = md.ArrayInfo{MajorVersion: int32(s.major), MinorVersion: int32(s.minor), RaidDisks: int32(s.raidDisks),
			NrDisks: int32(len(s.devs)), ActiveDisks: int32(s.active), WorkingDisks: int32(s.working),
			FailedDisks: int32(s.failed), SpareDisks: int32(s.spare)}
	}
	v.array = ai
	var found []md.DiskInfo
	if !v.inactive {
		for n := 0; n < maxDevs1; n++ {
			di, err := d.DiskInfo(n)
			if err != nil {
				if n < int(ai.RaidDisks) {
					r.env.errf("cannot get device detail for device %d: %s\n", n, errnoText(err))
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
func (r *runner) loadInfo(v *arrayView, found []md.DiskInfo) *mdadmview.Member {
	var cands []md.DiskInfo
	if v.sra != nil && v.array.RaidDisks == 0 {
		for _, sd := range v.sra.devs {
			cands = append(cands, md.DiskInfo{Major: sd.major, Minor: sd.minor, RaidDisk: sd.raidDisk})
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
		m, err := openMember(dv)
		if err != nil {
			continue
		}
		mem, err := mdadmview.LoadMember(m.reader(), dv)
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
		for _, sd := range v.sra.devs {
			v.disks = append(v.disks, md.DiskInfo{Number: -1, Major: sd.major, Minor: sd.minor,
				RaidDisk: sd.raidDisk, State: sysState(sd)})
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

func sysState(sd sysDev) int32 {
	var s int32
	if sd.faulty {
		s |= diskFaulty
	}
	if sd.sync {
		s |= diskSync
	}
	return s
}

// alive is is_dev_alive: /sys/dev/block/M:m exists.
func (r *runner) alive(major, minor int32) bool {
	_, err := os.Stat(r.env.path(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)))
	return err == nil
}

// computeAvail fills v.avail and returns the count of roles with an
// in-sync member.
func (r *runner) computeAvail(v *arrayView) int {
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
	m, err := openMember(dev)
	if err != nil {
		return -1
	}
	defer m.Close()
	rd := m.reader()
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
