package bitmap

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// clusteredHex is a version 5 bitmap superblock for two nodes, one row per
// field.
var clusteredHex = []string{
	"6269746d",                         // @0 magic "bitm"
	"05000000",                         // @4 version 5: clustered
	"10d42f6e50470313e0146ae7b4d871b2", // @8 uuid
	"1100000000000000",                 // @24 events 17
	"0f00000000000000",                 // @32 events_cleared 15
	"00f0010000000000",                 // @40 sync_size 126976 sectors
	"00000000",                         // @48 state
	"00000100",                         // @52 chunksize 65536
	"05000000",                         // @56 daemon_sleep 5 s
	"00000000",                         // @60 write_behind
	"00000000",                         // @64 sectors_reserved
	"02000000",                         // @68 nodes 2
	"6d64636c757374657200000000000000 00000000000000000000000000000000" +
		"00000000000000000000000000000000 00000000000000000000000000000000", // @72 cluster_name "mdcluster"
	"00000000000000000000000000000000 00000000000000000000000000000000" +
		"00000000000000000000000000000000 00000000000000000000000000000000" +
		"00000000000000000000000000000000 00000000000000000000000000000000" +
		"000000000000000000000000000000000000000000000000", // @136 pad (120 bytes)
}

func TestBitmapSuperblockUnmarshal(t *testing.T) {
	good := unhex(t, clusteredHex...)
	patch := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	plain := patch(4, 4)
	binary.LittleEndian.PutUint32(plain[68:], 0)
	clear(plain[72:136])
	tests := []struct {
		name   string
		in     []byte
		want   *BitmapSuperblock
		err    error
		field  string
		offset int
		msg    string
	}{
		{name: "clustered", in: good, want: testBitmapSuper(5, 2, 126976, 65536)},
		{name: "plain v4", in: plain, want: testBitmapSuper(4, 0, 126976, 65536)},
		{name: "short", in: good[:255], err: ErrTruncated, field: "magic"},
		{name: "bad magic", in: patch(0, 0x6d746963), err: ErrBadMagic, field: "magic",
			msg: "bitmap: bitmap superblock field magic at offset 0: value 0x6d746963 is not 0x6d746962"},
		{name: "version 2", in: patch(4, 2), err: ErrUnsupportedVersion, field: "version", offset: 4},
		{name: "version 7", in: patch(4, 7), err: ErrUnsupportedVersion, field: "version", offset: 4},
		{name: "lockless v6", in: patch(4, 6), err: ErrLocklessBitmap, field: "version", offset: 4},
		{name: "chunksize 0", in: patch(52, 0), err: ErrInvalidField, field: "chunksize", offset: 52,
			msg: "bitmap: bitmap superblock field chunksize at offset 52: value 0 is not a power of two"},
		{name: "chunksize 256", in: patch(52, 256), err: ErrInvalidField, field: "chunksize", offset: 52,
			msg: "bitmap: bitmap superblock field chunksize at offset 52: value 256 is smaller than 512 bytes"},
		{name: "chunksize 3<<20", in: patch(52, 3<<20), err: ErrInvalidField, field: "chunksize", offset: 52},
		{name: "daemon_sleep 0", in: patch(56, 0), err: ErrInvalidField, field: "daemon_sleep", offset: 56},
		{name: "write_behind 16384", in: patch(60, 16384), err: ErrInvalidField, field: "write_behind", offset: 60},
		{name: "nodes 0", in: patch(68, 0), err: ErrInvalidField, field: "nodes", offset: 68},
		{name: "nodes 1025", in: patch(68, 1025), err: ErrInvalidField, field: "nodes", offset: 68},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got BitmapSuperblock
			err := got.UnmarshalBinary(tt.in)
			if tt.err != nil {
				var fe *FieldError
				if !errors.Is(err, tt.err) || !errors.As(err, &fe) || fe.Field != tt.field || fe.Offset != tt.offset {
					t.Fatalf("err = %v, want %v in field %s at %d", err, tt.err, tt.field, tt.offset)
				}
				if tt.msg != "" && err.Error() != tt.msg {
					t.Fatalf("err = %q, want %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, &got); diff != "" {
				t.Errorf("bitmap superblock (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(good, encodeBitmapSuperblock(testBitmapSuper(5, 2, 126976, 65536))); diff != "" {
		t.Errorf("encodeBitmapSuperblock differs from the hex layout (-want +got):\n%s", diff)
	}
}

func TestBitmapGeometry(t *testing.T) {
	tests := []struct {
		name            string
		syncSize        uint64
		chunk           uint32
		chunks, slotLen uint64
	}{
		// bm_blocks = ceil((ceil(sync/(chunk>>9)) + 7)/8 + 256, 4096)
		{"62MiB array, 64KiB chunks", 126976, 65536, 992, 4096},
		{"partial last chunk", 126977, 65536, 993, 4096},
		{"bits fill the first block", (4096 - 256) * 8, 512, 30720, 4096},
		{"one bit more", (4096-256)*8 + 1, 512, 30721, 8192},
		{"zero size", 0, 65536, 0, 4096},
		{"1 TiB, 64 MiB chunks", 1 << 31, 64 << 20, 16384, 4096},
		{"2^64-1 sectors", ^uint64(0), 1 << 31, 1 << 42, (1<<39 + 256 + 4095) / 4096 * 4096},
	}
	for _, tt := range tests {
		s := testBitmapSuper(5, 4, tt.syncSize, tt.chunk)
		if got := s.Chunks(); got != tt.chunks {
			t.Errorf("%s: Chunks = %d, want %d", tt.name, got, tt.chunks)
		}
		if got := s.SlotBytes(); got != tt.slotLen {
			t.Errorf("%s: SlotBytes = %d, want %d", tt.name, got, tt.slotLen)
		}
	}
}
