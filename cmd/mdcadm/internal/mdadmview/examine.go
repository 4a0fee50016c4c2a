package mdadmview

import (
	"fmt"
	"time"

	"mdcluster.dev/bitmap"
)

// Member is what mdadm --examine knows about one member device.
type Member struct {
	// Device is the name printed on the first line ("/dev/sdb:").
	Device string
	// Super is the v1.x superblock.
	Super *bitmap.Superblock
	// Bitmap is the bitmap superblock (slot 0) that Super points to, nil if
	// there is none or it could not be read. Like mdadm's load_super1, the
	// internal-bitmap feature bit is shown cleared when Bitmap is nil or its
	// magic or UUID does not match.
	Bitmap *bitmap.BitmapSuperblock
	// DeviceSectors is the device size in 512-byte sectors ("Unused Space").
	DeviceSectors uint64
}

// LoadMember reads a member like mdadm --examine: it probes the
// superblock (1.0, 1.1, 1.2; latest ctime wins) and reads the bitmap
// superblock if there is one; a bad bitmap is left out, not an error.
func LoadMember(r *bitmap.Reader, device string) (*Member, error) {
	sb, _, err := r.ProbeSuperblock()
	if err != nil {
		return nil, fmt.Errorf("examine %s: %w", device, err)
	}
	m := &Member{Device: device, Super: sb, DeviceSectors: uint64(r.Size()) / bitmap.SectorSize}
	if sb.HasBitmap() {
		if bsb, err := r.BitmapSuperblock(sb); err == nil {
			m.Bitmap = bsb
		}
	}
	return m, nil
}

// Space is the free room around the data, in sectors.
type Space struct {
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
}

// PPL locates a partial parity log.
type PPL struct {
	Sectors uint16 `json:"sectors"`
	Offset  int16  `json:"offset"` // sectors from the superblock
}

// Reshape describes an active reshape.
type Reshape struct {
	Position     uint64  `json:"position_sectors"` // printed in KiB
	DeltaDevices *int32  `json:"delta_devices,omitempty"`
	FromDevices  *int32  `json:"from_devices,omitempty"`
	NewLevel     string  `json:"new_level,omitempty"`
	NewLayout    *string `json:"new_layout,omitempty"`
	NewChunkKiB  *int32  `json:"new_chunk_kib,omitempty"`
}

// BadBlockLog describes the bad block log area.
type BadBlockLog struct {
	Entries int32 `json:"entries"`
	Offset  int32 `json:"offset"` // sectors from the superblock
	Present bool  `json:"bad_blocks_present"`
}

// Examine is the data of `mdadm --examine` for a v1.x member, with the
// same conditions for optional lines (a nil pointer is an absent line).
type Examine struct {
	Device          string       `json:"device"`
	Magic           uint32       `json:"magic"`
	Version         string       `json:"version"`
	FeatureMap      uint32       `json:"feature_map"`
	ArrayUUID       string       `json:"array_uuid"`
	Name            string       `json:"name"`
	LocalToHost     string       `json:"local_to_host,omitempty"`
	ClusterName     *string      `json:"cluster_name,omitempty"`
	CreationTime    Time         `json:"creation_time"`
	RaidLevel       string       `json:"raid_level"`
	RaidDevices     int32        `json:"raid_devices"`
	AvailDevSectors uint64       `json:"avail_dev_sectors"`
	ArraySizeKiB    *uint64      `json:"array_size_kib,omitempty"`
	UsedDevSectors  *uint64      `json:"used_dev_sectors,omitempty"`
	DataOffset      *uint64      `json:"data_offset,omitempty"`
	NewOffset       *uint64      `json:"new_offset,omitempty"`
	SuperOffset     uint64       `json:"super_offset"`
	RecoveryOffset  *uint64      `json:"recovery_offset,omitempty"`
	UnusedSpace     *Space       `json:"unused_space,omitempty"`
	State           string       `json:"state"`
	DeviceUUID      string       `json:"device_uuid"`
	InternalBitmap  *int32       `json:"internal_bitmap_offset,omitempty"`
	PPL             *PPL         `json:"ppl,omitempty"`
	Reshape         *Reshape     `json:"reshape,omitempty"`
	Flags           []string     `json:"flags,omitempty"`
	UpdateTime      Time         `json:"update_time"`
	BadBlockLog     *BadBlockLog `json:"bad_block_log,omitempty"`
	Checksum        uint32       `json:"checksum"`
	ChecksumWant    uint32       `json:"checksum_expected"`
	ChecksumOK      bool         `json:"checksum_correct"`
	Events          uint64       `json:"events"`
	Layout          *string      `json:"layout,omitempty"`
	ChunkSizeKiB    *int32       `json:"chunk_size_kib,omitempty"`
	RoundingKiB     *int32       `json:"rounding_kib,omitempty"`
	DeviceRole      string       `json:"device_role"`
	ArrayState      string       `json:"array_state"`
	// Inconsistent lists "index:role" pairs when mdadm warns that the
	// array state is inconsistent.
	Inconsistent []string `json:"inconsistent_roles,omitempty"`

	arraySizeBytes int64 // for the human-readable suffix
}

// Time is a superblock time. Its JSON form is RFC 3339 for every year the
// 40-bit seconds field can hold, including those past 9999 that
// time.Time's MarshalJSON refuses.
type Time struct{ time.Time }

// MarshalJSON encodes t as an RFC 3339 string.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.Format(time.RFC3339) + `"`), nil
}

func ptr[T any](v T) *T { return &v }

// NewExamine computes what mdadm --examine shows for m.
func NewExamine(m *Member, opt Options) *Examine {
	sb := m.Super
	loc := opt.loc()
	bms := m.Bitmap
	fm, want := shownFeatures(sb, bms)
	level := uint32(sb.Level) // mdadm compares the level unsigned
	e := &Examine{
		Device:          m.Device,
		Magic:           sb.Magic,
		Version:         fmt.Sprintf("1.%d", sb.MinorVersion()),
		FeatureMap:      fm,
		ArrayUUID:       uuidString(sb.SetUUID),
		Name:            cstr(sb.SetName[:], 32),
		CreationTime:    Time{time.Unix(int64(sb.CTime&0xffffffffff), 0).In(loc)},
		RaidLevel:       levelName(sb.Level),
		RaidDevices:     int32(sb.RaidDisks),
		AvailDevSectors: sb.DataSize,
		SuperOffset:     sb.SuperOffset,
		DeviceUUID:      uuidString(sb.DeviceUUID),
		UpdateTime:      Time{time.Unix(int64(sb.UTime&0xffffffffff), 0).In(loc)},
		Checksum:        sb.SBCsum,
		ChecksumWant:    want,
		ChecksumOK:      sb.SBCsum == want,
		Events:          sb.Events,
	}
	if localTo(sb, opt.Homehost) {
		e.LocalToHost = opt.Homehost
	}
	if bms != nil && bms.Nodes > 0 && fm&bitmap.FeatureBitmapOffset != 0 {
		e.ClusterName = ptr(cstr(bms.ClusterName[:], 64))
	}
	e.sizes(sb, level)
	if sb.DataOffset != 0 {
		e.DataOffset = ptr(sb.DataOffset)
	}
	if sb.NewOffset != 0 && fm&bitmap.FeatureNewOffset != 0 {
		e.NewOffset = ptr(sb.DataOffset + uint64(int64(sb.NewOffset)))
	}
	if fm&bitmap.FeatureRecoveryOffset != 0 {
		e.RecoveryOffset = ptr(sb.RecoveryOffset)
	}
	if sp := unusedSpace(sb, fm, bms, m.DeviceSectors); sp.After != 1 && fm&bitmap.FeatureNewOffset == 0 {
		e.UnusedSpace = &sp
	}
	e.State = "clean"
	if sb.ResyncOffset+1 != 0 {
		e.State = "active"
	}
	if fm&bitmap.FeatureBitmapOffset != 0 {
		e.InternalBitmap = ptr(sb.BitmapOffset)
	} else if fm&(bitmap.FeaturePPL|bitmap.FeatureMultiplePPLs) != 0 {
		e.PPL = &PPL{Sectors: sb.PPLSize(), Offset: sb.PPLOffset()}
	}
	deltaExtra := e.reshape(sb, fm, level)
	if sb.DevFlags&bitmap.DevFlagWriteMostly != 0 {
		e.Flags = append(e.Flags, "write-mostly")
	}
	if sb.DevFlags&bitmap.DevFlagFailFast != 0 {
		e.Flags = append(e.Flags, "failfast")
	}
	if sb.DevFlags != 0 && e.Flags == nil {
		e.Flags = []string{} // "Flags :" with no names
	}
	if sb.BBLogSize != 0 && sb.BBLogOffset != 0 {
		e.BadBlockLog = &BadBlockLog{
			Entries: int32(sb.BBLogSize) * 512 / 8,
			Offset:  sb.BBLogOffset,
			Present: fm&bitmap.FeatureBadBlocks != 0,
		}
	}
	e.geometry(sb, fm, level)
	e.DeviceRole = deviceRole(sb, fm)
	e.ArrayState, e.Inconsistent = arrayState(sb, level, deltaExtra)
	return e
}

// shownFeatures is the feature map examine_super1 shows and the checksum
// it expects: load_super1's no_bitmap path clears the bitmap bit in
// memory when the bitmap superblock is missing or another array's, and
// examine_super1 checksums that modified copy.
func shownFeatures(sb *bitmap.Superblock, bms *bitmap.BitmapSuperblock) (uint32, uint32) {
	fm, want := sb.FeatureMap, sb.ComputedCsum
	if fm&bitmap.FeatureBitmapOffset != 0 && (bms == nil || bms.Magic != bitmap.BitmapMagic || bms.UUID != sb.SetUUID) {
		fm &^= bitmap.FeatureBitmapOffset
		c := *sb
		c.FeatureMap = fm
		if b, err := c.MarshalBinary(); err == nil {
			want = bitmap.Checksum(b)
		}
	}
	return fm, want
}

// sizes fills the Array Size and Used Dev Size lines (levels above 0,
// compared unsigned as mdadm does).
func (e *Examine) sizes(sb *bitmap.Superblock, level uint32) {
	if level > 0 {
		ddsks, denom := int64(0), int64(1)
		switch level {
		case 1:
			ddsks = 1
		case 4, 5:
			ddsks = int64(int32(sb.RaidDisks - 1))
		case 6:
			ddsks = int64(int32(sb.RaidDisks - 2))
		case 10:
			ddsks = int64(int32(sb.RaidDisks))
			denom = int64(int32((sb.Layout & 255) * ((sb.Layout >> 8) & 255)))
		}
		if ddsks != 0 && denom != 0 { // denom 0 would crash mdadm (SIGFPE)
			asize := int64(sb.Size) << 9 * ddsks / denom
			e.arraySizeBytes = asize
			e.ArraySizeKiB = ptr(uint64(asize >> 10))
		}
		if sb.Size != sb.DataSize {
			e.UsedDevSectors = ptr(sb.Size)
		}
	}
}

// reshape fills the reshape lines and returns the devices a shrinking
// reshape drops (mdadm counts them in the Array State line).
func (e *Examine) reshape(sb *bitmap.Superblock, fm, level uint32) uint32 {
	deltaExtra := uint32(0)
	if fm&bitmap.FeatureReshapeActive != 0 {
		rs := &Reshape{Position: sb.ReshapePosition}
		if sb.DeltaDisks != 0 {
			rs.DeltaDevices = ptr(sb.DeltaDisks)
			rs.FromDevices = ptr(int32(sb.RaidDisks - uint32(sb.DeltaDisks)))
			if sb.DeltaDisks < 0 {
				deltaExtra = uint32(-sb.DeltaDisks)
			}
		}
		if sb.NewLevel != level {
			rs.NewLevel = levelName(int32(sb.NewLevel))
		}
		if sb.NewLayout != sb.Layout {
			switch level {
			case 5:
				rs.NewLayout = ptr(r5Layout(sb.NewLayout))
			case 6:
				rs.NewLayout = ptr(r6Layout(sb.NewLayout))
			case 10:
				rs.NewLayout = ptr(r10Layout(sb.NewLayout))
			}
		}
		if sb.NewChunk != sb.ChunkSize {
			rs.NewChunkKiB = ptr(int32(sb.NewChunk / 2))
		}
		e.Reshape = rs
	}
	return deltaExtra
}

// geometry fills the layout and chunk lines.
func (e *Examine) geometry(sb *bitmap.Superblock, fm, level uint32) {
	switch {
	case level == 0 && fm&bitmap.FeatureRAID0Layout != 0:
		e.Layout = ptr(r0Layout(sb.Layout))
	case level == 5:
		e.Layout = ptr(r5Layout(sb.Layout))
	case level == 6:
		e.Layout = ptr(r6Layout(sb.Layout))
	case level == 10:
		e.Layout = ptr(r10Layout(sb.Layout))
	}
	switch sb.Level {
	case 0, 4, 5, 6, 10:
		e.ChunkSizeKiB = ptr(int32(sb.ChunkSize / 2))
	case -1:
		e.RoundingKiB = ptr(int32(sb.ChunkSize / 2))
	}
}
