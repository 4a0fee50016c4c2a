package mdadmview

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// WriteText writes e exactly as mdadm 4.2 --examine prints it, the
// "DEVICE:" line first.
func (e *Examine) WriteText(w io.Writer, opt Options) error {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	loc := opt.loc()
	p("%s:\n", e.Device)
	p("          Magic : %08x\n", e.Magic)
	p("        Version : %s\n", e.Version)
	p("    Feature Map : 0x%x\n", e.FeatureMap)
	p("     Array UUID : %s\n", e.ArrayUUID)
	p("           Name : %s", e.Name)
	if e.LocalToHost != "" {
		p("  (local to host %s)", e.LocalToHost)
	}
	p("\n")
	if e.ClusterName != nil {
		p("   Cluster Name : %-64s\n", *e.ClusterName)
	}
	p("  Creation Time : %s\n", ctimeOf(e.CreationTime.Time, loc))
	p("     Raid Level : %s\n", e.RaidLevel)
	p("   Raid Devices : %d\n", e.RaidDevices)
	p("\n")
	p(" Avail Dev Size : %d sectors%s\n", e.AvailDevSectors, humanSize(int64(e.AvailDevSectors<<9)))
	if e.ArraySizeKiB != nil {
		p("     Array Size : %d KiB%s\n", *e.ArraySizeKiB, humanSize(e.arraySizeBytes))
	}
	if e.UsedDevSectors != nil {
		p("  Used Dev Size : %d sectors%s\n", *e.UsedDevSectors, humanSize(int64(*e.UsedDevSectors<<9)))
	}
	if e.DataOffset != nil {
		p("    Data Offset : %d sectors\n", *e.DataOffset)
	}
	if e.NewOffset != nil {
		p("     New Offset : %d sectors\n", *e.NewOffset)
	}
	p("   Super Offset : %d sectors\n", e.SuperOffset)
	if e.RecoveryOffset != nil {
		p("Recovery Offset : %d sectors\n", *e.RecoveryOffset)
	}
	if e.UnusedSpace != nil {
		p("   Unused Space : before=%d sectors, after=%d sectors\n", e.UnusedSpace.Before, e.UnusedSpace.After)
	}
	p("          State : %s\n", e.State)
	p("    Device UUID : %s\n", e.DeviceUUID)
	p("\n")
	if e.InternalBitmap != nil {
		p("Internal Bitmap : %d sectors from superblock\n", *e.InternalBitmap)
	} else if e.PPL != nil {
		p("            PPL : %d sectors at offset %d sectors from superblock\n", e.PPL.Sectors, e.PPL.Offset)
	}
	e.writeReshape(&b)
	e.writeState(&b, loc)
	_, err := w.Write(b.Bytes())
	return err
}

// writeReshape writes the lines of an active reshape.
func (e *Examine) writeReshape(b *bytes.Buffer) {
	rs := e.Reshape
	if rs == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("  Reshape pos'n : %d%s\n", rs.Position/2, humanSize(int64(rs.Position<<9)))
	if rs.DeltaDevices != nil {
		p("  Delta Devices : %d (%d->%d)\n", *rs.DeltaDevices, *rs.FromDevices, e.RaidDevices)
	}
	if rs.NewLevel != "" {
		p("      New Level : %s\n", rs.NewLevel)
	}
	if rs.NewLayout != nil {
		if e.RaidLevel == "raid10" {
			p("     New Layout :%s\n", *rs.NewLayout)
		} else {
			p("     New Layout : %s\n", *rs.NewLayout)
		}
	}
	if rs.NewChunkKiB != nil {
		p("  New Chunksize : %dK\n", *rs.NewChunkKiB)
	}
	p("\n")
}

// writeState writes the flags, update time, bad block log, checksum,
// events, geometry, role and array state lines.
func (e *Examine) writeState(b *bytes.Buffer, loc *time.Location) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	if e.Flags != nil {
		p("          Flags :")
		for _, f := range e.Flags {
			p(" %s", f)
		}
		p("\n")
	}
	p("    Update Time : %s\n", ctimeOf(e.UpdateTime.Time, loc))
	if bb := e.BadBlockLog; bb != nil {
		p("  Bad Block Log : %d entries available at offset %d sectors", bb.Entries, bb.Offset)
		if bb.Present {
			p(" - bad blocks present.")
		}
		p("\n")
	}
	if e.ChecksumOK {
		p("       Checksum : %x - correct\n", e.Checksum)
	} else {
		p("       Checksum : %x - expected %x\n", e.Checksum, e.ChecksumWant)
	}
	p("         Events : %d\n", e.Events)
	p("\n")
	if e.Layout != nil {
		if e.RaidLevel == "raid10" {
			p("         Layout :%s\n", *e.Layout)
		} else {
			p("         Layout : %s\n", *e.Layout)
		}
	}
	if e.ChunkSizeKiB != nil {
		p("     Chunk Size : %dK\n", *e.ChunkSizeKiB)
	}
	if e.RoundingKiB != nil {
		p("       Rounding : %dK\n", *e.RoundingKiB)
	}
	p("\n")
	p("   Device Role : %s\n", e.DeviceRole)
	p("   Array State : %s ('A' == active, '.' == missing, 'R' == replacing)\n", e.ArrayState)
	if e.Inconsistent != nil {
		p("WARNING Array state is inconsistent - each number should appear only once\n")
		for _, s := range e.Inconsistent {
			p(" %s", s)
		}
		p("\n")
	}
}
