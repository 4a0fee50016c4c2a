package mdadmview

import (
	"fmt"
	"time"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/md"
)

func syncWord(e *md.MdstatEntry) string {
	if e == nil || (e.Percent < 0 && e.Percent != md.PercentPending && e.Percent != md.PercentDelayed && e.Percent != md.PercentRemote) {
		return ""
	}
	return []string{", recovering", ", resyncing", ", reshaping", ", checking"}[e.Resync]
}

func notStarted(size uint64) string {
	if size != 0 {
		return ""
	}
	return ", Not Started"
}

func syncFlag(e *md.MdstatEntry) string {
	switch {
	case e == nil:
		return ""
	case e.Percent == md.PercentDelayed:
		return " (DELAYED)"
	case e.Percent == md.PercentPending:
		return " (PENDING)"
	case e.Percent == md.PercentRemote:
		return " (REMOTE)"
	}
	return ""
}

// detailSuper is super1's detail_super.
func (r *viewer) detailSuper(v *arrayView) {
	sb := v.info.Super
	name := cstr(sb.SetName[:], 32)
	fmt.Fprintf(r.out, "              Name : %s", name)
	h := r.q.Homehost
	if localTo(sb, h) {
		fmt.Fprintf(r.out, "  (local to host %s)", h)
	}
	if bm := v.info.Bitmap; bm != nil && bm.Nodes > 0 && sb.FeatureMap&bitmap.FeatureBitmapOffset != 0 {
		fmt.Fprintf(r.out, "\n      Cluster Name : %-64s", cstr(bm.ClusterName[:], 64))
	}
	fmt.Fprintf(r.out, "\n              UUID : %s\n            Events : %d\n\n", uuidString(sb.SetUUID), sb.Events)
}

// reshapeLines prints the reshape part of --detail.
func (r *viewer) reshapeLines(v *arrayView) {
	sb, a := v.info.Super, v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	if sb.DeltaDisks != 0 {
		p("     Delta Devices : %d, (%d->%d)\n", sb.DeltaDisks, a.RaidDisks-sb.DeltaDisks, a.RaidDisks)
	}
	nl, nlay := int32(sb.NewLevel), int32(sb.NewLayout)
	if nl != a.Level {
		p("         New Level : %s\n", orUnknown(knownLevel(nl)))
	}
	if nl != a.Level || nlay != a.Layout {
		switch nl {
		case 5:
			p("        New Layout : %s\n", r5Layout(uint32(nlay)))
		case 6:
			p("        New Layout : %s\n", r6Layout(uint32(nlay)))
		case 10:
			kind := "far"
			if nlay&0x10000 != 0 {
				kind = "offset"
			}
			p("        New Layout : near=%d, %s=%d\n", nlay&255, kind, (nlay>>8)&255)
		}
	}
	if int32(sb.NewChunk*512) != a.ChunkSize {
		p("     New Chunksize : %dK\n", sb.NewChunk/2)
	}
	p("\n")
}

func timeIn(sec uint32, loc *time.Location) time.Time {
	return time.Unix(int64(sec), 0).In(loc)
}
