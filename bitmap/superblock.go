package bitmap

import (
	"encoding/binary"
	"strings"
	"time"
)

// SuperblockMagic is the magic number of an md v1.x superblock (MD_SB_MAGIC).
const SuperblockMagic = 0xa92b4efc

// SuperblockSize is the size of the fixed part of struct mdp_superblock_1;
// the dev_roles array (2 bytes per entry) follows it.
const SuperblockSize = 256

// MaxDevs is the largest max_dev the kernel accepts: (4096-256)/2 roles fit
// in the 4 KiB that super_1_load reads.
const MaxDevs = (4096 - SuperblockSize) / 2

// Feature map bits of a v1.x superblock (MD_FEATURE_*).
const (
	FeatureBitmapOffset     = 1 << 0  // bitmap_offset is valid: internal bitmap
	FeatureRecoveryOffset   = 1 << 1  // recovery_offset is valid
	FeatureReshapeActive    = 1 << 2  // reshape fields are valid
	FeatureBadBlocks        = 1 << 3  // the bad block list is not empty
	FeatureReplacement      = 1 << 4  // this device replaces one with the same role
	FeatureReshapeBackwards = 1 << 5  // reshape runs backwards
	FeatureNewOffset        = 1 << 6  // new_offset is valid
	FeatureRecoveryBitmap   = 1 << 7  // recovery is guided by the bitmap
	FeatureClustered        = 1 << 8  // clustered md (mdadm 4.2: MD_FEATURE_BITMAP_VERSIONED)
	FeatureJournal          = 1 << 9  // array has a write journal
	FeaturePPL              = 1 << 10 // partial parity log; ppl union is valid
	FeatureMultiplePPLs     = 1 << 11 // multiple PPL areas
	FeatureRAID0Layout      = 1 << 12 // layout is meaningful for RAID0

	// FeatureAll is every bit the kernel (MD_FEATURE_ALL) understands.
	FeatureAll = FeatureBitmapOffset | FeatureRecoveryOffset | FeatureReshapeActive |
		FeatureBadBlocks | FeatureReplacement | FeatureReshapeBackwards | FeatureNewOffset |
		FeatureRecoveryBitmap | FeatureClustered | FeatureJournal | FeaturePPL | FeatureMultiplePPLs | FeatureRAID0Layout
)

// Special values of a dev_roles entry.
const (
	RoleSpare   = 0xffff // MD_DISK_ROLE_SPARE
	RoleFaulty  = 0xfffe // MD_DISK_ROLE_FAULTY
	RoleJournal = 0xfffd // MD_DISK_ROLE_JOURNAL
	RoleMax     = 0xff00 // largest regular role (MD_DISK_ROLE_MAX)
)

// Device flag bits (devflags).
const (
	DevFlagWriteMostly = 1 // WriteMostly1
	DevFlagFailFast    = 2 // FailFast1
)

// MaxSector is the resync_offset of a clean array.
const MaxSector = ^uint64(0)

// Superblock is struct mdp_superblock_1 from include/uapi/linux/raid/md_p.h.
// Every field is kept as stored; sizes and offsets are in 512-byte sectors
// unless the comment says otherwise.
type Superblock struct {
	Magic        uint32   // @0 SuperblockMagic
	MajorVersion uint32   // @4 always 1
	FeatureMap   uint32   // @8 Feature* bits
	Pad0         uint32   // @12 zero
	SetUUID      [16]byte // @16 array UUID
	SetName      [32]byte // @32 "host:name", NUL padded
	CTime        uint64   // @64 low 40 bits seconds, high 24 bits microseconds
	Level        int32    // @72 -4 multipath, -1 linear, 0, 1, 4, 5, 6, 10
	Layout       uint32   // @76
	Size         uint64   // @80 used size of each component
	ChunkSize    uint32   // @88 in sectors
	RaidDisks    uint32   // @92
	// BitmapOffset (@96) is the signed sector offset of the bitmap from the
	// superblock, valid with FeatureBitmapOffset. The same 4 bytes hold the
	// PPL offset and size (see PPLOffset, PPLSize).
	BitmapOffset     int32
	NewLevel         uint32   // @100 valid with FeatureReshapeActive
	ReshapePosition  uint64   // @104 next array address for reshape
	DeltaDisks       int32    // @112 change in raid_disks
	NewLayout        uint32   // @116
	NewChunk         uint32   // @120 in sectors
	NewOffset        int32    // @124 signed; added to data_offset in the new layout
	DataOffset       uint64   // @128 start of data
	DataSize         uint64   // @136 sectors usable for data
	SuperOffset      uint64   // @144 sector of this superblock
	RecoveryOffset   uint64   // @152 also journal_tail on a journal device
	DevNumber        uint32   // @160 index into DevRoles
	CntCorrectedRead uint32   // @164
	DeviceUUID       [16]byte // @168
	DevFlags         uint8    // @184 DevFlag* bits
	BBLogShift       uint8    // @185 shift from sectors to bad block size
	BBLogSize        uint16   // @186 sectors reserved for the bad block log
	BBLogOffset      int32    // @188 signed offset from superblock
	UTime            uint64   // @192 like CTime
	Events           uint64   // @200
	ResyncOffset     uint64   // @208 MaxSector when in sync
	SBCsum           uint32   // @216 stored checksum
	MaxDev           uint32   // @220 entries in DevRoles
	Pad3             [32]byte // @224 zero
	DevRoles         []uint16 // @256 role per dev_number, or Role* values

	// ComputedCsum is the checksum computed like the kernel's calc_sb_1_csum.
	ComputedCsum uint32
	// CsumErr is non-nil (a *FieldError wrapping ErrInvalidField) when
	// SBCsum differs from ComputedCsum. The superblock is still returned,
	// as mdadm --examine shows it.
	CsumErr error
}

const sbStruct = "superblock"

// UnmarshalBinary parses an md v1.x superblock from b, which must hold the
// 256-byte fixed part and max_dev dev_roles entries. It checks size, magic,
// major version, max_dev and raid_disks; a checksum mismatch is reported in
// CsumErr, not as an error.
func (sb *Superblock) UnmarshalBinary(b []byte) error {
	if len(b) < SuperblockSize {
		return fieldErr(sbStruct, "magic", 0, len(b), ErrTruncated, "bytes are too short for the 256-byte superblock")
	}
	le := binary.LittleEndian
	s := Superblock{
		Magic:            le.Uint32(b[0:]),
		MajorVersion:     le.Uint32(b[4:]),
		FeatureMap:       le.Uint32(b[8:]),
		Pad0:             le.Uint32(b[12:]),
		CTime:            le.Uint64(b[64:]),
		Level:            int32(le.Uint32(b[72:])),
		Layout:           le.Uint32(b[76:]),
		Size:             le.Uint64(b[80:]),
		ChunkSize:        le.Uint32(b[88:]),
		RaidDisks:        le.Uint32(b[92:]),
		BitmapOffset:     int32(le.Uint32(b[96:])),
		NewLevel:         le.Uint32(b[100:]),
		ReshapePosition:  le.Uint64(b[104:]),
		DeltaDisks:       int32(le.Uint32(b[112:])),
		NewLayout:        le.Uint32(b[116:]),
		NewChunk:         le.Uint32(b[120:]),
		NewOffset:        int32(le.Uint32(b[124:])),
		DataOffset:       le.Uint64(b[128:]),
		DataSize:         le.Uint64(b[136:]),
		SuperOffset:      le.Uint64(b[144:]),
		RecoveryOffset:   le.Uint64(b[152:]),
		DevNumber:        le.Uint32(b[160:]),
		CntCorrectedRead: le.Uint32(b[164:]),
		DevFlags:         b[184],
		BBLogShift:       b[185],
		BBLogSize:        le.Uint16(b[186:]),
		BBLogOffset:      int32(le.Uint32(b[188:])),
		UTime:            le.Uint64(b[192:]),
		Events:           le.Uint64(b[200:]),
		ResyncOffset:     le.Uint64(b[208:]),
		SBCsum:           le.Uint32(b[216:]),
		MaxDev:           le.Uint32(b[220:]),
	}
	copy(s.SetUUID[:], b[16:32])
	copy(s.SetName[:], b[32:64])
	copy(s.DeviceUUID[:], b[168:184])
	copy(s.Pad3[:], b[224:256])

	if s.Magic != SuperblockMagic {
		return fieldErr(sbStruct, "magic", 0, hex32(s.Magic), ErrBadMagic, "is not 0xa92b4efc")
	}
	if s.MajorVersion != 1 {
		return fieldErr(sbStruct, "major_version", 4, s.MajorVersion, ErrUnsupportedVersion, "is not 1")
	}
	if s.MaxDev > MaxDevs {
		return fieldErr(sbStruct, "max_dev", 220, s.MaxDev, ErrInvalidField, "exceeds 1920 roles")
	}
	if s.RaidDisks > MaxDevs {
		return fieldErr(sbStruct, "raid_disks", 92, s.RaidDisks, ErrInvalidField, "exceeds 1920 devices")
	}
	if need := SuperblockSize + 2*int(s.MaxDev); len(b) < need {
		return fieldErr(sbStruct, "dev_roles", SuperblockSize, len(b), ErrTruncated,
			"bytes are too short for max_dev roles")
	}
	s.DevRoles = make([]uint16, s.MaxDev)
	for i := range s.DevRoles {
		s.DevRoles[i] = le.Uint16(b[SuperblockSize+2*i:])
	}
	s.ComputedCsum = Checksum(b)
	if s.ComputedCsum != s.SBCsum {
		s.CsumErr = fieldErr(sbStruct, "sb_csum", 216, hex32(s.SBCsum), ErrInvalidField,
			"does not match computed checksum "+hex32(s.ComputedCsum).String())
	}
	*sb = s
	return nil
}

// MarshalBinary lays sb out as on disk: the 256-byte fixed part and
// len(DevRoles) roles, with SBCsum stored as is (use Checksum on the result
// for the checksum of the new bytes). This package never writes devices;
// this is for checksums over modified fields and for tests.
func (sb *Superblock) MarshalBinary() ([]byte, error) {
	b := make([]byte, SuperblockSize+2*len(sb.DevRoles))
	le := binary.LittleEndian
	le.PutUint32(b[0:], sb.Magic)
	le.PutUint32(b[4:], sb.MajorVersion)
	le.PutUint32(b[8:], sb.FeatureMap)
	le.PutUint32(b[12:], sb.Pad0)
	copy(b[16:], sb.SetUUID[:])
	copy(b[32:], sb.SetName[:])
	le.PutUint64(b[64:], sb.CTime)
	le.PutUint32(b[72:], uint32(sb.Level))
	le.PutUint32(b[76:], sb.Layout)
	le.PutUint64(b[80:], sb.Size)
	le.PutUint32(b[88:], sb.ChunkSize)
	le.PutUint32(b[92:], sb.RaidDisks)
	le.PutUint32(b[96:], uint32(sb.BitmapOffset))
	le.PutUint32(b[100:], sb.NewLevel)
	le.PutUint64(b[104:], sb.ReshapePosition)
	le.PutUint32(b[112:], uint32(sb.DeltaDisks))
	le.PutUint32(b[116:], sb.NewLayout)
	le.PutUint32(b[120:], sb.NewChunk)
	le.PutUint32(b[124:], uint32(sb.NewOffset))
	le.PutUint64(b[128:], sb.DataOffset)
	le.PutUint64(b[136:], sb.DataSize)
	le.PutUint64(b[144:], sb.SuperOffset)
	le.PutUint64(b[152:], sb.RecoveryOffset)
	le.PutUint32(b[160:], sb.DevNumber)
	le.PutUint32(b[164:], sb.CntCorrectedRead)
	copy(b[168:], sb.DeviceUUID[:])
	b[184] = sb.DevFlags
	b[185] = sb.BBLogShift
	le.PutUint16(b[186:], sb.BBLogSize)
	le.PutUint32(b[188:], uint32(sb.BBLogOffset))
	le.PutUint64(b[192:], sb.UTime)
	le.PutUint64(b[200:], sb.Events)
	le.PutUint64(b[208:], sb.ResyncOffset)
	le.PutUint32(b[216:], sb.SBCsum)
	le.PutUint32(b[220:], sb.MaxDev)
	copy(b[224:], sb.Pad3[:])
	for i, r := range sb.DevRoles {
		le.PutUint16(b[SuperblockSize+2*i:], r)
	}
	return b, nil
}

// Checksum computes the superblock checksum like the kernel's
// calc_sb_1_csum: the sum of the little-endian 32-bit words of the first
// 256+2*max_dev bytes (a trailing 16-bit word added as such), with sb_csum
// taken as zero, folded once from 64 to 32 bits. b must hold those bytes;
// Checksum reads max_dev from b and stops at the end of b.
func Checksum(b []byte) uint32 {
	if len(b) < SuperblockSize {
		return 0
	}
	le := binary.LittleEndian
	size := SuperblockSize + 2*int(le.Uint32(b[220:]))
	if size > len(b) {
		size = len(b)
	}
	var sum uint64
	i := 0
	for ; size-i >= 4; i += 4 {
		if i == 216 { // sb_csum counts as zero
			continue
		}
		sum += uint64(le.Uint32(b[i:]))
	}
	if size-i == 2 {
		sum += uint64(le.Uint16(b[i:]))
	}
	return uint32(sum&0xffffffff) + uint32(sum>>32)
}

// Name returns set_name up to its first NUL.
func (sb *Superblock) Name() string { return cString(sb.SetName[:]) }

// PPLOffset returns the signed sector offset of the PPL from the superblock
// (the low half of the bitmap_offset union), valid with FeaturePPL.
func (sb *Superblock) PPLOffset() int16 { return int16(uint32(sb.BitmapOffset) & 0xffff) }

// PPLSize returns the PPL size in sectors (the high half of the union).
func (sb *Superblock) PPLSize() uint16 { return uint16(uint32(sb.BitmapOffset) >> 16) }

// JournalTail returns the recovery_offset union member as the journal tail.
func (sb *Superblock) JournalTail() uint64 { return sb.RecoveryOffset }

// HasBitmap reports whether the superblock points to an internal bitmap.
func (sb *Superblock) HasBitmap() bool { return sb.FeatureMap&FeatureBitmapOffset != 0 }

// UnknownFeatures returns the feature bits the kernel does not know; the
// kernel refuses such a device.
func (sb *Superblock) UnknownFeatures() uint32 { return sb.FeatureMap &^ FeatureAll }

// MinorVersion derives the minor version (0, 1 or 2) from super_offset the
// way mdadm --examine does: 1.1 at sector 0..4, 1.2 at 5..8, 1.0 beyond.
func (sb *Superblock) MinorVersion() int {
	switch {
	case sb.SuperOffset <= 4:
		return 1
	case sb.SuperOffset <= 8:
		return 2
	}
	return 0
}

// Role returns this device's role: DevRoles[DevNumber], or RoleSpare when
// dev_number is outside dev_roles (as mdadm's role_from_sb does).
func (sb *Superblock) Role() uint16 {
	if sb.DevNumber < uint32(len(sb.DevRoles)) {
		return sb.DevRoles[sb.DevNumber]
	}
	return RoleSpare
}

// Clean reports whether resync_offset is MaxSector.
func (sb *Superblock) Clean() bool { return sb.ResyncOffset == MaxSector }

// CreationTime returns ctime: 40 bits of seconds and, above them, 24 bits of
// microseconds.
func (sb *Superblock) CreationTime() time.Time { return mdTime(sb.CTime) }

// UpdateTime returns utime, encoded like ctime.
func (sb *Superblock) UpdateTime() time.Time { return mdTime(sb.UTime) }

func mdTime(v uint64) time.Time {
	sec := int64(v & 0xffffffffff)
	usec := int64(v >> 40)
	if usec >= 1000000 {
		usec = 0 // older mdadm wrote garbage here; seconds are still valid
	}
	return time.Unix(sec, usec*1000).UTC()
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
