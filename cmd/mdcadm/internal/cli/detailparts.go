package cli

import (
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/bitmap"
)

var r5layouts = map[int32]string{0: "left-asymmetric", 1: "right-asymmetric", 2: "left-symmetric",
	3: "right-symmetric", 4: "parity-first", 5: "parity-last"}

var r6layouts = map[int32]string{0: "left-asymmetric", 1: "right-asymmetric", 2: "left-symmetric",
	3: "right-symmetric", 4: "parity-first", 5: "parity-last", 8: "ddf-zero-restart", 9: "ddf-N-restart",
	10: "ddf-N-continue", 16: "left-asymmetric-6", 17: "right-asymmetric-6", 18: "left-symmetric-6",
	19: "right-symmetric-6", 20: "parity-first-6"}

var r0layouts = map[int32]string{1: "original", 2: "alternate", 0: "dangerous"}

func layoutName(m map[int32]string, l int32) string {
	if s, ok := m[l]; ok {
		return s
	}
	return "-unknown-"
}

// r10Layout is print_r10_layout.
func r10Layout(layout int32) string {
	near, far, offset := layout&255, (layout>>8)&255, layout&0x10000 != 0
	var b strings.Builder
	sep := ""
	if near != 1 {
		fmt.Fprintf(&b, "%s near=%d", sep, near)
		sep = ","
	}
	if far != 1 {
		kind := "far"
		if offset {
			kind = "offset"
		}
		fmt.Fprintf(&b, "%s %s=%d", sep, kind, far)
	}
	if near*far == 1 {
		b.WriteString("NO REDUNDANCY")
	}
	return b.String()
}

func syncWord(e *mdstatEnt) string {
	if e == nil || (e.percent < 0 && e.percent != resyncPending && e.percent != resyncDelayed && e.percent != resyncRemote) {
		return ""
	}
	return []string{", recovering", ", resyncing", ", reshaping", ", checking"}[e.resync]
}

func notStarted(size uint64) string {
	if size != 0 {
		return ""
	}
	return ", Not Started"
}

func syncFlag(e *mdstatEnt) string {
	switch {
	case e == nil:
		return ""
	case e.percent == resyncDelayed:
		return " (DELAYED)"
	case e.percent == resyncPending:
		return " (PENDING)"
	case e.percent == resyncRemote:
		return " (REMOTE)"
	}
	return ""
}

// detailSuper is super1's detail_super.
func (r *runner) detailSuper(v *arrayView) {
	sb := v.info.Super
	raw, _ := sb.MarshalBinary()
	name := cstring(raw[32:64])
	fmt.Fprintf(r.out, "              Name : %s", name)
	h := r.c.Homehost
	if l := len(h); l > 0 && l < 32 && raw[32+l] == ':' && strings.HasPrefix(string(raw[32:64]), h) {
		fmt.Fprintf(r.out, "  (local to host %s)", h)
	}
	if bm := v.info.Bitmap; bm != nil && bm.Nodes > 0 && sb.FeatureMap&bitmap.FeatureBitmapOffset != 0 {
		fmt.Fprintf(r.out, "\n      Cluster Name : %-64s", cstring(bm.ClusterName[:]))
	}
	fmt.Fprintf(r.out, "\n              UUID : %s\n            Events : %d\n\n", uuidColon(sb.SetUUID), sb.Events)
}

// reshapeLines prints the reshape part of --detail.
func (r *runner) reshapeLines(v *arrayView) {
	sb, a := v.info.Super, v.array
	p := func(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }
	if sb.DeltaDisks != 0 {
		p("     Delta Devices : %d, (%d->%d)\n", sb.DeltaDisks, a.RaidDisks-sb.DeltaDisks, a.RaidDisks)
	}
	nl, nlay := int32(sb.NewLevel), int32(sb.NewLayout)
	if nl != a.Level {
		p("         New Level : %s\n", orUnknown(levelName(nl)))
	}
	if nl != a.Level || nlay != a.Layout {
		switch nl {
		case 5:
			p("        New Layout : %s\n", layoutName(r5layouts, nlay))
		case 6:
			p("        New Layout : %s\n", layoutName(r6layouts, nlay))
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

func timeIn(sec uint32, env *Env) time.Time {
	return time.Unix(int64(sec), 0).In(env.Location)
}
