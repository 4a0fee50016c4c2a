package mdadmview

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

func (r *viewer) ctime(sec uint32) string {
	return ctimeOf(time.Unix(int64(sec), 0), r.loc)
}

// detail is mdadm's Detail() for one md device.
func (r *viewer) detail(dev string) int {
	v, rc := r.loadArray(dev)
	if v == nil {
		if r.q.Test {
			return 4 // --test: the array could not be read
		}
		return rc
	}
	if r.q.JSON {
		return r.detailJSON(v)
	}
	a := v.array
	str := knownLevel(a.Level)
	if v.inactive && v.info != nil {
		str = knownLevel(v.info.Super.Level)
	}
	if r.q.Export {
		return r.detailExport(v, str)
	}
	availDisks := r.computeAvail(v)
	rc = 0
	if r.q.Test && availDisks < int(v.array.RaidDisks) {
		rc = 1 // --test: degraded
	}
	if r.q.Test && !enough(v.array.Level, v.array.RaidDisks, v.array.Layout, true, v.avail) {
		rc = 2 // --test: not enough members to run
	}
	out := r.out
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	if r.q.Brief {
		if v.inactive {
			p("INACTIVE-ARRAY %s", dev)
		} else {
			p("ARRAY %s", dev)
		}
		if r.q.Verbose > 0 {
			if a.RaidDisks != 0 {
				p(" level=%s num-devices=%d", orUnknown(str), a.RaidDisks)
			} else {
				p(" num-devices=%d", a.NrDisks)
			}
		}
		p(" metadata=%s", r.metadataText(v))
		if v.bmFile != "" {
			p(" bitmap=%s", v.bmFile)
		}
	} else {
		r.detailHeader(v, str, availDisks)
	}
	spares, names := 0, []string(nil)
	if !r.q.NoDevices {
		spares, names = r.members(v)
	}
	if spares > 0 && r.q.Brief && a.RaidDisks != 0 {
		p(" spares=%d", spares)
	}
	if r.q.Brief && v.info != nil {
		if name := briefName(v.info.Super); name != "" {
			p(" name=%s", quoted(name))
		}
		p(" UUID=%s", uuidString(v.info.Super.SetUUID))
	}
	if r.q.Brief && r.q.Verbose > 0 && len(names) > 0 {
		slices.Sort(names)
		p("\n   devices=%s", strings.Join(names, ","))
	}
	if r.q.Brief {
		p("\n")
	}
	return rc
}

// members prints the member lines of --detail (or, with --brief, gathers
// the member names) and counts the spares.
func (r *viewer) members(v *arrayView) (spares int, names []string) {
	a := v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	for d, disk := range v.disks {
		if d >= int(a.RaidDisks)*2 && disk.Major == 0 && disk.Minor == 0 {
			continue
		}
		if d&1 == 1 && disk.Major == 0 && disk.Minor == 0 {
			continue
		}
		if !r.q.Brief {
			if d == int(a.RaidDisks)*2 {
				p("\n")
			}
			r.diskLine(v, disk)
		}
		if disk.State == 0 {
			spares++
		}
		dv := r.mapDev(uint32(disk.Major), uint32(disk.Minor), false)
		switch {
		case dv != "" && r.q.Brief:
			names = append(names, dv)
		case dv != "":
			p("   %s", dv)
		case disk.Major|disk.Minor != 0:
			p("   missing")
		}
		if !r.q.Brief {
			p("\n")
		}
	}
	return spares, names
}

func orUnknown(s string) string {
	if s == "" {
		return "-unknown-"
	}
	return s
}

func (r *viewer) metadataText(v *arrayView) string {
	if v.sra != nil && v.sra.Major < 0 {
		return v.sra.TextVersion
	}
	return fmt.Sprintf("%d.%d", v.array.MajorVersion, v.array.MinorVersion)
}

// diskLine prints the numbers and state words of one member line.
func (r *viewer) diskLine(v *arrayView, disk md.DiskInfo) {
	a := v.array
	out := r.out
	switch {
	case disk.Number < 0 && disk.RaidDisk < 0:
		fmt.Fprintf(out, "       -   %5d    %5d        -     ", disk.Major, disk.Minor)
	case disk.RaidDisk < 0 || disk.State&md.DiskJournal != 0:
		fmt.Fprintf(out, "   %5d   %5d    %5d        -     ", disk.Number, disk.Major, disk.Minor)
	case disk.Number < 0:
		fmt.Fprintf(out, "       -   %5d    %5d    %5d     ", disk.Major, disk.Minor, disk.RaidDisk)
	default:
		fmt.Fprintf(out, "   %5d   %5d    %5d    %5d     ", disk.Number, disk.Major, disk.Minor, disk.RaidDisk)
	}
	if a.RaidDisks == 0 {
		return
	}
	s := disk.State
	if s&diskFaulty != 0 {
		out.WriteString(" faulty")
	}
	if s&diskActive != 0 {
		out.WriteString(" active")
	}
	if s&diskSync != 0 {
		out.WriteString(" sync")
		if a.Level == 10 && a.Layout&^0x1FFFF == 0 {
			nc, fc := a.Layout&0xff, (a.Layout>>8)&0xff
			copies := nc * fc
			if fc == 1 && copies != 0 && a.RaidDisks%copies == 0 && copies <= 26 {
				fmt.Fprintf(out, " set-%c", 'A'+rune(disk.RaidDisk%copies))
			}
		}
	}
	if s&diskRemoved != 0 {
		out.WriteString(" removed")
	}
	if s&md.DiskWriteMostly != 0 {
		out.WriteString(" writemostly")
	}
	if s&md.DiskFailFast != 0 {
		out.WriteString(" failfast")
	}
	if s&md.DiskJournal != 0 {
		out.WriteString(" journal")
	}
	if s&(diskActive|diskSync|diskRemoved|diskFaulty|md.DiskJournal) == 0 {
		out.WriteString(" spare")
		if disk.RaidDisk < a.RaidDisks && disk.RaidDisk >= 0 {
			out.WriteString(" rebuilding")
		}
	}
}

// detailHeader prints everything of --detail above the member lines.
func (r *viewer) detailHeader(v *arrayView, str string, availDisks int) {
	var e *md.MdstatEntry
	devnm := r.devnm(v.rdev)
	for _, m := range r.fs.MdadmStat() {
		if m.Devnm == devnm {
			e = &m
			break
		}
	}
	r.detailSizes(v, str)
	r.detailState(v, availDisks, e)
	r.detailGeometry(v, e)
}

// detailSizes prints the device, version, level, sizes and device counts.
func (r *viewer) detailSizes(v *arrayView, str string) {
	a := v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	p("%s:\n", v.dev)
	p("           Version : %s\n", r.metadataText(v))
	if a.Ctime != 0 {
		p("     Creation Time : %s\n", r.ctime(a.Ctime))
	}
	if str != "" {
		p("        Raid Level : %s\n", str)
	}
	if v.sizeB != 0 {
		p("        Array Size : %d%s\n", v.sizeB>>10, humanSize(int64(v.sizeB)))
	}
	if a.Level >= 1 {
		major := a.MajorVersion
		if v.sra != nil {
			major = int32(v.sra.Major)
		}
		if major != 0 && (v.sizeB >= 0xFFFFFFFF || a.Size == 0) {
			var kib uint64
			if v.sra != nil {
				kib = v.sra.ComponentSize
			}
			if kib > 0 {
				p("     Used Dev Size : %d%s\n", kib, humanSize(int64(kib<<10)))
			} else {
				p("     Used Dev Size : unknown\n")
			}
		} else {
			p("     Used Dev Size : %d%s\n", uint32(a.Size), humanSize(int64(uint32(a.Size))<<10))
		}
	}
	if a.RaidDisks != 0 {
		p("      Raid Devices : %d\n", a.RaidDisks)
	}
	p("     Total Devices : %d\n", a.NrDisks)
	if (v.sra == nil && a.MajorVersion == 0) || (v.sra != nil && v.sra.Major == 0) {
		p("   Preferred Minor : %d\n", a.MdMinor)
	}
	if v.sra == nil || v.sra.Major >= 0 {
		not := ""
		if a.NotPersistent != 0 {
			not = "not "
		}
		p("       Persistence : Superblock is %spersistent\n", not)
	}
	p("\n")
}

// detailState prints the bitmap, update time, state and member counts.
func (r *viewer) detailState(v *arrayView, availDisks int, e *md.MdstatEntry) {
	a := v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	switch {
	case v.bmFile != "":
		p("     Intent Bitmap : %s\n\n", v.bmFile)
	case a.State&md.ArrayStateClustered != 0:
		p("     Intent Bitmap : Internal(Clustered)\n\n")
	case a.State&md.ArrayStateBitmapPresent != 0:
		p("     Intent Bitmap : Internal\n\n")
	}
	if a.Utime != 0 {
		p("       Update Time : %s\n", r.ctime(a.Utime))
	}
	if a.RaidDisks != 0 {
		st := ""
		if availDisks != int(a.RaidDisks) {
			st = ", degraded"
			if !enough(a.Level, a.RaidDisks, a.Layout, true, v.avail) {
				st = ", FAILED"
			}
		}
		p("             State : %s%s%s%s%s \n", r.arrayState(v), st, syncWord(e), notStarted(v.sizeB), syncFlag(e))
	} else if v.inactive {
		p("             State : inactive\n")
	}
	if a.RaidDisks != 0 {
		p("    Active Devices : %d\n", a.ActiveDisks)
	}
	if a.WorkingDisks > 0 {
		p("   Working Devices : %d\n", a.WorkingDisks)
	}
	if a.RaidDisks != 0 {
		p("    Failed Devices : %d\n", a.FailedDisks)
		if !v.external {
			p("     Spare Devices : %d\n", a.SpareDisks)
		}
	}
	p("\n")
}

// detailGeometry prints the layout, chunk, consistency policy, sync
// status, reshape and superblock lines, and the member table's title.
func (r *viewer) detailGeometry(v *arrayView, e *md.MdstatEntry) {
	a := v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	switch {
	case a.Level == 5:
		p("            Layout : %s\n", r5Layout(uint32(a.Layout)))
	case a.Level == 0 && a.Layout != 0:
		p("            Layout : %s\n", r0Layout(uint32(a.Layout)))
	case a.Level == 6:
		p("            Layout : %s\n", r6Layout(uint32(a.Layout)))
	case a.Level == 10:
		p("            Layout :%s\n", r10Layout(uint32(a.Layout)))
	}
	switch a.Level {
	case 0, 4, 5, 10, 6:
		if a.ChunkSize != 0 {
			p("        Chunk Size : %dK\n\n", a.ChunkSize/1024)
		}
	case -1:
		p("          Rounding : %dK\n\n", a.ChunkSize/1024)
	}
	if a.RaidDisks != 0 && v.sra != nil {
		pol := v.sra.Consistency
		switch pol {
		case "none", "resync", "bitmap", "journal", "ppl":
		default:
			pol = "unknown"
		}
		p("Consistency Policy : %s\n\n", pol)
	}
	if e != nil && e.Percent >= 0 {
		p("    %7s Status : %d%% complete\n", []string{"Rebuild", "Resync", "Reshape", "Check"}[e.Resync], e.Percent)
	}
	if v.info != nil && v.info.Super.FeatureMap&bitmap.FeatureReshapeActive != 0 {
		r.reshapeLines(v)
	} else if e != nil && e.Percent >= 0 {
		p("\n")
	}
	if v.info != nil {
		r.detailSuper(v)
	}
	if !r.q.NoDevices {
		if a.RaidDisks != 0 {
			p("    Number   Major   Minor   RaidDevice State\n")
		} else {
			p("    Number   Major   Minor   RaidDevice\n")
		}
	}
}

// arrayState is the first word of the State line.
func (r *viewer) arrayState(v *arrayView) string {
	a := v.array
	if a.State&md.ArrayStateClean != 0 {
		if (a.Level == 0 || a.Level == -1) && v.sra != nil {
			return v.sra.ArrayState
		}
		return "clean"
	}
	if a.State&md.ArrayStateClustered != 0 {
		for _, d := range v.disks {
			// mdadm tests the bit numbers MD_DISK_SYNC|MD_DISK_ACTIVE (2|1)
			// as a mask: faulty or active members.
			if d.State&3 != 0 && d.Major|d.Minor != 0 {
				dv := r.mapDev(uint32(d.Major), uint32(d.Minor), false)
				if dv == "" {
					continue
				}
				if bitmapDirty(dv) != 0 {
					return "active"
				}
				return "clean"
			}
		}
	}
	return "active"
}
