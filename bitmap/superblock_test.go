package bitmap

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// raid1Hex is a v1.2 superblock of a 2-disk RAID1 member, one row per
// field. Its checksum was computed independently of Checksum.
var raid1Hex = []string{
	"fc4e2ba9",                         // @0 magic
	"01000000",                         // @4 major_version
	"01000000",                         // @8 feature_map: bitmap offset
	"00000000",                         // @12 pad0
	"10d42f6e50470313e0146ae7b4d871b2", // @16 set_uuid
	"6e6f6465313a6d643000000000000000 00000000000000000000000000000000", // @32 set_name "node1:md0"
	"00f1536500000000",                 // @64 ctime 1700000000
	"01000000",                         // @72 level: raid1
	"00000000",                         // @76 layout
	"00f0010000000000",                 // @80 size 126976
	"00000000",                         // @88 chunksize
	"02000000",                         // @92 raid_disks
	"08000000",                         // @96 bitmap_offset: +8 sectors
	"00000000",                         // @100 new_level
	"0000000000000000",                 // @104 reshape_position
	"00000000",                         // @112 delta_disks
	"00000000",                         // @116 new_layout
	"00000000",                         // @120 new_chunk
	"00000000",                         // @124 new_offset
	"0010000000000000",                 // @128 data_offset 4096
	"00f0010000000000",                 // @136 data_size 126976
	"0800000000000000",                 // @144 super_offset 8
	"0000000000000000",                 // @152 recovery_offset
	"01000000",                         // @160 dev_number
	"00000000",                         // @164 cnt_corrected_read
	"aabbccdd0102030405060708090a0b0c", // @168 device_uuid
	"00",                               // @184 devflags
	"09",                               // @185 bblog_shift
	"0800",                             // @186 bblog_size
	"10000000",                         // @188 bblog_offset 16
	"64f1536500000000",                 // @192 utime 1700000100
	"1100000000000000",                 // @200 events 17
	"ffffffffffffffff",                 // @208 resync_offset: MaxSector
	"1aaba24e",                         // @216 sb_csum
	"02000000",                         // @220 max_dev
	"00000000000000000000000000000000 00000000000000000000000000000000", // @224 pad3
	"0000", // @256 dev_roles[0]: active 0
	"0100", // @258 dev_roles[1]: active 1
}

func wantRAID1() *Superblock {
	sb := testSuperblock()
	sb.SBCsum = 0x4ea2ab1a
	sb.ComputedCsum = 0x4ea2ab1a
	return sb
}

func TestSuperblockUnmarshal(t *testing.T) {
	good := unhex(t, raid1Hex...)
	patch := func(off int, v ...byte) []byte {
		b := append([]byte(nil), good...)
		copy(b[off:], v)
		return b
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	tests := []struct {
		name   string
		in     []byte
		want   *Superblock
		err    error
		field  string
		offset int
	}{
		{name: "raid1 v1.2", in: good, want: wantRAID1()},
		{name: "trailing bytes ignored", in: append(append([]byte(nil), good...), 0xde, 0xad), want: wantRAID1()},
		{name: "empty", in: nil, err: ErrTruncated, field: "magic"},
		{name: "255 bytes", in: good[:255], err: ErrTruncated, field: "magic"},
		{name: "roles cut", in: good[:257], err: ErrTruncated, field: "dev_roles", offset: 256},
		{name: "bad magic", in: patch(0, 0xfc, 0x4e, 0x2b, 0xaa), err: ErrBadMagic, field: "magic"},
		{name: "v0.90 byte order", in: patch(0, 0xa9, 0x2b, 0x4e, 0xfc), err: ErrBadMagic, field: "magic"},
		{name: "major version 0", in: patch(4, le32(0)...), err: ErrUnsupportedVersion, field: "major_version", offset: 4},
		{name: "max_dev 1921", in: patch(220, le32(1921)...), err: ErrInvalidField, field: "max_dev", offset: 220},
		{name: "max_dev huge", in: patch(220, le32(0xffffffff)...), err: ErrInvalidField, field: "max_dev", offset: 220},
		{name: "raid_disks huge", in: patch(92, le32(1<<31)...), err: ErrInvalidField, field: "raid_disks", offset: 92},
		{name: "max_dev past buffer", in: patch(220, le32(1920)...), err: ErrTruncated, field: "dev_roles", offset: 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Superblock
			err := got.UnmarshalBinary(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field || fe.Offset != tt.offset {
					t.Fatalf("err = %#v, want field %s at %d", err, tt.field, tt.offset)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(tt.want, &got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("superblock (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuperblockChecksum(t *testing.T) {
	good := unhex(t, raid1Hex...)
	if got := Checksum(good); got != 0x4ea2ab1a {
		t.Fatalf("Checksum = %#x, want 0x4ea2ab1a", got)
	}
	// The encoder helper must produce the same bytes as the hex table.
	if diff := cmp.Diff(good, encodeSuperblock(testSuperblock(), false)); diff != "" {
		t.Fatalf("encodeSuperblock differs from the hex layout (-want +got):\n%s", diff)
	}

	bad := append([]byte(nil), good...)
	bad[200]++ // events
	var sb Superblock
	if err := sb.UnmarshalBinary(bad); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(sb.CsumErr, ErrInvalidField) {
		t.Fatalf("CsumErr = %v, want ErrInvalidField", sb.CsumErr)
	}
	const want = "bitmap: superblock field sb_csum at offset 216: value 0x4ea2ab1a does not match computed checksum 0x4ea2ab1b"
	if sb.CsumErr.Error() != want {
		t.Errorf("CsumErr = %q, want %q", sb.CsumErr, want)
	}

	// Odd max_dev: the final 16-bit role is added as a 16-bit value.
	odd := testSuperblock()
	odd.MaxDev, odd.DevRoles = 3, []uint16{0, 1, 0xfffe}
	b := encodeSuperblock(odd, false)
	var sum uint64
	for i := 0; i+4 <= len(b); i += 4 {
		if i != 216 {
			sum += uint64(binary.LittleEndian.Uint32(b[i:]))
		}
	}
	sum += uint64(binary.LittleEndian.Uint16(b[len(b)-2:]))
	if want, got := uint32(sum)+uint32(sum>>32), Checksum(b); got != want {
		t.Errorf("odd max_dev: Checksum = %#x, want %#x", got, want)
	}
	// The 64-bit sum is folded once: high words overflow 32 bits.
	carry := testSuperblock()
	carry.Events, carry.ResyncOffset, carry.ReshapePosition = MaxSector, MaxSector, MaxSector
	b = encodeSuperblock(carry, false)
	if err := sb.UnmarshalBinary(b); err != nil || sb.CsumErr != nil {
		t.Errorf("carry: err %v, csum err %v", err, sb.CsumErr)
	}
}

func TestSuperblockAccessors(t *testing.T) {
	sb := wantRAID1()
	sb.BitmapOffset = int32(uint32(0x0010_fff8)) // ppl: offset -8, size 16
	sb.CTime = 1700000000 | 123456<<40
	tests := []struct {
		name      string
		got, want any
	}{
		{"Name", sb.Name(), "node1:md0"},
		{"PPLOffset", sb.PPLOffset(), int16(-8)},
		{"PPLSize", sb.PPLSize(), uint16(16)},
		{"Role", sb.Role(), uint16(1)},
		{"Clean", sb.Clean(), true},
		{"MinorVersion", sb.MinorVersion(), 2},
		{"CreationTime", sb.CreationTime().Format("2006-01-02T15:04:05.000000Z"), "2023-11-14T22:13:20.123456Z"},
		{"UnknownFeatures", sb.UnknownFeatures(), uint32(0)},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	sb.DevNumber = 7
	if sb.Role() != RoleSpare {
		t.Errorf("Role past max_dev = %#x, want spare", sb.Role())
	}
	for _, c := range []struct {
		off   uint64
		minor int
	}{{0, 1}, {8, 2}, {131056, 0}} {
		sb.SuperOffset = c.off
		if got := sb.MinorVersion(); got != c.minor {
			t.Errorf("MinorVersion(super_offset %d) = %d, want %d", c.off, got, c.minor)
		}
	}
}
