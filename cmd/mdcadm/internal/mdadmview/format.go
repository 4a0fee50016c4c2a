// Package mdadmview is mdadm 4.2's read-only output, in one place:
// --examine (examine_super1), --examine-bitmap (ExamineBitmap), --detail
// and --detail --scan (Detail, misc_scan), --query (Query), with --brief,
// --export and a JSON form of the same data. It reads kernel facts only
// through mdcluster/md (sysfs, /proc/mdstat) and bitmap (superblocks and
// bitmaps on disk), plus mdadm's own files (/run/mdadm/map, mdadm.conf)
// and /dev names.
//
// It lives in the outputs layer, next to its one user (cmd/mdcadm): what
// mdadm prints is a presentation of kernel facts, not one of them, so it
// sits above mdcluster/md and bitmap and neither of those imports it.
//
// The text follows mdadm 4.2's printf formats, including its quirks (for
// example, levels compared as unsigned numbers, so a linear array gets a
// "Used Dev Size" line). Times are printed like ctime(3) in Options.Location.
package mdadmview

import (
	"fmt"
	"time"

	"mdcluster.dev/mdcluster/md"
)

// Options control rendering.
type Options struct {
	// Location is the time zone for times (mdadm uses the local TZ).
	// Nil means time.Local.
	Location *time.Location
	// Homehost adds "(local to host H)" to the Name line when set_name
	// starts with "H:", as mdadm --examine --homehost=H does.
	Homehost string
}

func (o Options) loc() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

// ctimeOf formats t like ctime(3), cut to 24 bytes as mdadm's "%.24s" does
// (which matters only for years past 9999).
func ctimeOf(t time.Time, loc *time.Location) string {
	s := t.In(loc).Format("Mon Jan _2 15:04:05 2006")
	if len(s) > 24 {
		s = s[:24]
	}
	return s
}

// humanSize is mdadm's human_size: "" below 5000 KiB, else " (x.yy MiB
// x.yy MB)" switching to GiB/GB from 2 GiB and TiB/TB from 2 TiB. The
// arithmetic is signed 64-bit like mdadm's long long, overflow included.
func humanSize(bytes int64) string {
	switch {
	case bytes < 5000*1024:
		return ""
	case bytes < 2<<30:
		cMiB := (bytes*200/(1<<20) + 1) / 2
		cMB := (bytes/(1000000/200) + 1) / 2
		return fmt.Sprintf(" (%d.%02d MiB %d.%02d MB)", cMiB/100, cMiB%100, cMB/100, cMB%100)
	case bytes < 2<<40:
		cGiB := (bytes*200/(1<<30) + 1) / 2
		cGB := (bytes/(1000000000/200) + 1) / 2
		return fmt.Sprintf(" (%d.%02d GiB %d.%02d GB)", cGiB/100, cGiB%100, cGB/100, cGB%100)
	}
	cTiB := (bytes*200/(1<<40) + 1) / 2
	cTB := (bytes/(1000000000000/200) + 1) / 2
	return fmt.Sprintf(" (%d.%02d TiB %d.%02d TB)", cTiB/100, cTiB%100, cTB/100, cTB%100)
}

// humanSizeJEDEC is mdadm's human_size_brief(bytes, JEDEC): "x.yyMB",
// "x.yyGB" or "x.yyTB", "" below 5000 KiB.
func humanSizeJEDEC(bytes int64) string {
	switch {
	case bytes < 5000*1024:
		return ""
	case bytes < 2<<30:
		c := (bytes/(1000000/200) + 1) / 2
		return fmt.Sprintf("%d.%02dMB", c/100, c%100)
	case bytes < 2<<40:
		c := (bytes/(1000000000/200) + 1) / 2
		return fmt.Sprintf("%d.%02dGB", c/100, c%100)
	}
	c := (bytes/(1000000000000/200) + 1) / 2
	return fmt.Sprintf("%d.%02dTB", c/100, c%100)
}

// humanSizeBrief is mdadm's human_size_brief with IEC prefixes.
func humanSizeBrief(bytes uint64) string {
	b := int64(bytes)
	switch {
	case b < 5000*1024:
		return ""
	case b < 2<<30:
		c := (b*200/(1<<20) + 1) / 2
		return fmt.Sprintf("%d.%02dMiB", c/100, c%100)
	case b < 2<<40:
		c := (b*200/(1<<30) + 1) / 2
		return fmt.Sprintf("%d.%02dGiB", c/100, c%100)
	}
	c := (b*200/(1<<40) + 1) / 2
	return fmt.Sprintf("%d.%02dTiB", c/100, c%100)
}

// humanChunksize is bitmap.c's human_chunksize: "64 MB", "512 B".
func humanChunksize(bytes uint64) string {
	suffixes := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for bytes>>10 != 0 && i < len(suffixes)-1 {
		bytes >>= 10
		i++
	}
	return fmt.Sprintf("%d %s", bytes, suffixes[i])
}

// uuidString prints 16 bytes as mdadm does: hex in groups of 4 bytes joined
// by ':' (the byte order is kept, as with super1's swapuuid on x86).
func uuidString(u [16]byte) string { return md.UUID(u).Colon() }

// levelName is map_num(pers, level) or "-unknown-".
func levelName(level int32) string {
	if n := knownLevel(level); n != "" {
		return n
	}
	return "-unknown-"
}

// knownLevel is map_num(pers, level), "" when mdadm knows no name.
func knownLevel(level int32) string {
	switch level {
	case -1:
		return "linear"
	case 0, 1, 4, 5, 6, 10:
		return fmt.Sprintf("raid%d", level)
	case -4:
		return "multipath"
	case -5:
		return "faulty"
	case -100:
		return "container"
	}
	return ""
}

// r5Layout is map_num(r5layout, layout): the first name for each value.
func r5Layout(layout uint32) string {
	switch layout {
	case 0:
		return "left-asymmetric"
	case 1:
		return "right-asymmetric"
	case 2:
		return "left-symmetric"
	case 3:
		return "right-symmetric"
	case 4:
		return "parity-first"
	case 5:
		return "parity-last"
	}
	return "-unknown-"
}

// r6Layout is map_num(r6layout, layout).
func r6Layout(layout uint32) string {
	switch layout {
	case 8:
		return "ddf-zero-restart"
	case 9:
		return "ddf-N-restart"
	case 10:
		return "ddf-N-continue"
	case 16:
		return "left-asymmetric-6"
	case 17:
		return "right-asymmetric-6"
	case 18:
		return "left-symmetric-6"
	case 19:
		return "right-symmetric-6"
	case 20:
		return "parity-first-6"
	}
	return r5Layout(layout)
}

// r0Layout is map_num(r0layout, layout).
func r0Layout(layout uint32) string {
	switch layout {
	case 1:
		return "original"
	case 2:
		return "alternate"
	case 0:
		return "dangerous"
	}
	return "-unknown-"
}

// r10Layout is what print_r10_layout prints, leading space included.
func r10Layout(layout uint32) string {
	near := layout & 255
	far := (layout >> 8) & 255
	s, sep := "", ""
	if near != 1 {
		s += fmt.Sprintf("%s near=%d", sep, near)
		sep = ","
	}
	if far != 1 {
		kind := "far"
		if layout&0x10000 != 0 {
			kind = "offset"
		}
		s += fmt.Sprintf("%s %s=%d", sep, kind, far)
	}
	if near*far == 1 {
		s += "NO REDUNDANCY"
	}
	return s
}

// cstr returns b up to its first NUL, at most max bytes (printf "%.Ns").
func cstr(b []byte, max int) string {
	for i, c := range b {
		if c == 0 || i == max {
			return string(b[:i])
		}
	}
	return string(b)
}
