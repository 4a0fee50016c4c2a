package mdadmview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/bitmap"
)

var (
	arrayUUID  = [16]byte{0x10, 0xd4, 0x2f, 0x6e, 0x50, 0x47, 0x03, 0x13, 0xe0, 0x14, 0x6a, 0xe7, 0xb4, 0xd8, 0x71, 0xb2}
	deviceUUID = [16]byte{0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	utc        = Options{Location: time.UTC}
)

// member returns a clustered RAID1 v1.2 member on a 64 MiB device, as
// mdadm 4.2 lays it out: data at 2 MiB, bitmap 4 KiB after the superblock.
func member() *Member {
	sb := &bitmap.Superblock{
		Magic: bitmap.SuperblockMagic, MajorVersion: 1,
		FeatureMap: bitmap.FeatureBitmapOffset | bitmap.FeatureClustered,
		SetUUID:    arrayUUID, CTime: 1700000000, Level: 1, Size: 126976, RaidDisks: 2,
		BitmapOffset: 8, DataOffset: 4096, DataSize: 126976, SuperOffset: 8, DevNumber: 1,
		DeviceUUID: deviceUUID, BBLogShift: 9, BBLogSize: 8, BBLogOffset: 16,
		UTime: 1700000100, Events: 17, ResyncOffset: bitmap.MaxSector,
		SBCsum: 0x1234abcd, ComputedCsum: 0x1234abcd, MaxDev: 2, DevRoles: []uint16{0, 1},
	}
	copy(sb.SetName[:], "node1:md0")
	bsb := &bitmap.BitmapSuperblock{
		Magic: bitmap.BitmapMagic, Version: 5, UUID: arrayUUID, Events: 17, EventsCleared: 15,
		SyncSize: 126976, ChunkSize: 65536, DaemonSleep: 5, Nodes: 2,
	}
	copy(bsb.ClusterName[:], "mdcluster")
	return &Member{Device: "/dev/vdb", Super: sb, Bitmap: bsb, DeviceSectors: 131072}
}

const wantClusteredRAID1 = `/dev/vdb:
          Magic : a92b4efc
        Version : 1.2
    Feature Map : 0x101
     Array UUID : 10d42f6e:50470313:e0146ae7:b4d871b2
           Name : node1:md0
   Cluster Name : mdcluster                                                       
  Creation Time : Tue Nov 14 22:13:20 2023
     Raid Level : raid1
   Raid Devices : 2

 Avail Dev Size : 126976 sectors (62.00 MiB 65.01 MB)
     Array Size : 63488 KiB (62.00 MiB 65.01 MB)
    Data Offset : 4096 sectors
   Super Offset : 8 sectors
   Unused Space : before=4016 sectors, after=0 sectors
          State : clean
    Device UUID : aabbccdd:01020304:05060708:090a0b0c

Internal Bitmap : 8 sectors from superblock
    Update Time : Tue Nov 14 22:15:00 2023
  Bad Block Log : 512 entries available at offset 16 sectors
       Checksum : 1234abcd - correct
         Events : 17


   Device Role : Active device 1
   Array State : AA ('A' == active, '.' == missing, 'R' == replacing)
`

func render(t *testing.T, m *Member, opt Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := NewExamine(m, opt).WriteText(&b, opt); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestExamineClusteredRAID1(t *testing.T) {
	if diff := cmp.Diff(wantClusteredRAID1, render(t, member(), utc)); diff != "" {
		t.Errorf("examine (-want +got):\n%s", diff)
	}
}

// lines returns the lines of s that start with one of the keys (the text
// before " : "), so tests can check the lines a field change affects.
func lines(s string, keys ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		k, _, _ := strings.Cut(l, " : ")
		for _, want := range keys {
			if strings.TrimSpace(k) == want {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestExamineLines(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Member)
		opt  Options
		keys []string
		want string
	}{
		{
			name: "homehost",
			opt:  Options{Location: time.UTC, Homehost: "node1"},
			keys: []string{"Name"},
			want: "           Name : node1:md0  (local to host node1)",
		},
		{
			name: "other homehost",
			opt:  Options{Location: time.UTC, Homehost: "node"},
			keys: []string{"Name"},
			want: "           Name : node1:md0",
		},
		{
			name: "local time zone",
			opt:  Options{Location: time.FixedZone("X", -5*3600)},
			keys: []string{"Creation Time", "Update Time"},
			want: "  Creation Time : Tue Nov 14 17:13:20 2023\n    Update Time : Tue Nov 14 17:15:00 2023",
		},
		{
			name: "checksum mismatch",
			mod:  func(m *Member) { m.Super.ComputedCsum = 0xbeef },
			keys: []string{"Checksum"},
			want: "       Checksum : 1234abcd - expected beef",
		},
		{
			name: "bitmap unreadable: feature bit shown cleared",
			mod:  func(m *Member) { m.Bitmap = nil },
			keys: []string{"Feature Map", "Cluster Name", "Internal Bitmap"},
			want: "    Feature Map : 0x100",
		},
		{
			name: "bitmap of another array",
			mod:  func(m *Member) { m.Bitmap.UUID[0]++ },
			keys: []string{"Feature Map", "Internal Bitmap"},
			want: "    Feature Map : 0x100",
		},
		{
			name: "plain bitmap: no cluster name",
			mod:  func(m *Member) { m.Bitmap.Nodes = 0; m.Super.FeatureMap = 1 },
			keys: []string{"Feature Map", "Cluster Name", "Internal Bitmap"},
			want: "    Feature Map : 0x1\nInternal Bitmap : 8 sectors from superblock",
		},
		{
			name: "active, degraded, write-mostly spare",
			mod: func(m *Member) {
				m.Super.ResyncOffset = 0
				m.Super.DevRoles = []uint16{bitmap.RoleFaulty, bitmap.RoleSpare}
				m.Super.DevFlags = 3
			},
			keys: []string{"State", "Flags", "Device Role", "Array State"},
			want: "          State : active\n          Flags : write-mostly failfast\n" +
				"   Device Role : spare\n   Array State : .. ('A' == active, '.' == missing, 'R' == replacing)",
		},
		{
			name: "replacement",
			mod: func(m *Member) {
				m.Super.FeatureMap |= bitmap.FeatureReplacement | bitmap.FeatureRecoveryOffset
				m.Super.RecoveryOffset = 1024
				m.Super.MaxDev, m.Super.DevRoles = 3, []uint16{0, 1, 1}
			},
			keys: []string{"Recovery Offset", "Device Role", "Array State"},
			want: "Recovery Offset : 1024 sectors\n   Device Role : Replacement device 1\n" +
				"   Array State : AR ('A' == active, '.' == missing, 'R' == replacing)",
		},
		{
			name: "inconsistent roles",
			mod: func(m *Member) {
				m.Super.MaxDev, m.Super.DevRoles = 4, []uint16{0, 0, 0, 7}
			},
			keys: []string{"Array State"},
			want: "   Array State : ?. ('A' == active, '.' == missing, 'R' == replacing)",
		},
		{
			name: "used dev size",
			mod:  func(m *Member) { m.Super.DataSize = 130000 },
			keys: []string{"Avail Dev Size", "Used Dev Size", "Unused Space"},
			want: " Avail Dev Size : 130000 sectors (63.48 MiB 66.56 MB)\n" +
				"  Used Dev Size : 126976 sectors (62.00 MiB 65.01 MB)\n" +
				"   Unused Space : before=4016 sectors, after=0 sectors",
		},
		{
			name: "journal",
			mod:  func(m *Member) { m.Super.DevRoles[1] = bitmap.RoleJournal },
			keys: []string{"Device Role"},
			want: "   Device Role : Journal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := member()
			if tt.mod != nil {
				tt.mod(m)
			}
			opt := tt.opt
			if opt.Location == nil {
				opt = utc
			}
			if diff := cmp.Diff(tt.want, lines(render(t, m, opt), tt.keys...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestExamineInconsistentWarning(t *testing.T) {
	m := member()
	m.Super.MaxDev, m.Super.DevRoles = 4, []uint16{0, 0, bitmap.RoleSpare, 7}
	got := render(t, m, utc)
	// Two devices with role 0 read as replacing (R); role 7 is past
	// raid_disks, which makes the state inconsistent.
	want := "   Array State : R. ('A' == active, '.' == missing, 'R' == replacing)\n" +
		"WARNING Array state is inconsistent - each number should appear only once\n" +
		" 0:0 1:0 2:- 3:7\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("tail of output:\n%s\nwant suffix:\n%s", got[strings.Index(got, "   Array State"):], want)
	}
}

func TestExamineLevels(t *testing.T) {
	tests := []struct {
		name  string
		level int32
		disks uint32
		lay   uint32
		fm    uint32
		keys  []string
		want  string
	}{
		{"raid5", 5, 4, 2, 0, []string{"Raid Level", "Array Size", "Layout", "Chunk Size"},
			"     Raid Level : raid5\n     Array Size : 95232 KiB (93.00 MiB 97.52 MB)\n" +
				"         Layout : left-symmetric\n     Chunk Size : 512K"},
		{"raid6", 6, 4, 18, 0, []string{"Array Size", "Layout"},
			"     Array Size : 63488 KiB (62.00 MiB 65.01 MB)\n         Layout : left-symmetric-6"},
		{"raid10 n2", 10, 4, 0x102, 0, []string{"Array Size", "Layout", "Chunk Size"},
			"     Array Size : 63488 KiB (62.00 MiB 65.01 MB)\n         Layout : near=2\n     Chunk Size : 512K"},
		{"raid0 no layout", 0, 2, 2, 0, []string{"Array Size", "Layout", "Chunk Size"},
			"     Chunk Size : 512K"},
		{"raid0 layout", 0, 2, 2, bitmap.FeatureRAID0Layout, []string{"Layout"},
			"         Layout : alternate"},
		// mdadm compares the level unsigned: linear is "> 0" and gets
		// Used Dev Size without Array Size.
		{"linear", -1, 2, 0, 0, []string{"Raid Level", "Array Size", "Used Dev Size", "Rounding"},
			"     Raid Level : linear\n  Used Dev Size : 63488 sectors (31.00 MiB 32.51 MB)\n       Rounding : 512K"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := member()
			sb := m.Super
			sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = tt.level, tt.disks, tt.lay, 1024
			sb.FeatureMap |= tt.fm
			sb.Size = 63488
			sb.MaxDev, sb.DevRoles = tt.disks, make([]uint16, tt.disks)
			for i := range sb.DevRoles {
				sb.DevRoles[i] = uint16(i)
			}
			if sb.Level <= 0 {
				sb.Size = 63488 // linear/raid0: data_size used for space
			}
			if diff := cmp.Diff(tt.want, lines(render(t, m, utc), tt.keys...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestExamineReshapeAndPPL(t *testing.T) {
	m := member()
	sb := m.Super
	sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 5, 4, 2, 1024
	sb.MaxDev, sb.DevRoles = 4, []uint16{0, 1, 2, 3}
	sb.FeatureMap = bitmap.FeatureReshapeActive | bitmap.FeatureNewOffset | bitmap.FeaturePPL
	sb.ReshapePosition, sb.DeltaDisks, sb.NewLevel, sb.NewLayout, sb.NewChunk = 40960, 1, 6, 18, 256
	sb.NewOffset = -2048
	sb.BitmapOffset = int32(uint32(8)<<16 | 0xfff0) // PPL: 8 sectors at -16
	got := render(t, m, utc)
	want := strings.Join([]string{
		"     New Offset : 2048 sectors",
		"            PPL : 8 sectors at offset -16 sectors from superblock",
		"  Reshape pos'n : 20480 (20.00 MiB 20.97 MB)",
		"  Delta Devices : 1 (3->4)",
		"      New Level : raid6",
		// mdadm names the new layout with the old level's table, so a
		// raid5 -> raid6 reshape shows -unknown- for left-symmetric-6.
		"     New Layout : -unknown-",
		"  New Chunksize : 128K",
	}, "\n")
	keys := []string{"New Offset", "PPL", "Reshape pos'n", "Delta Devices", "New Level", "New Layout", "New Chunksize", "Unused Space"}
	if diff := cmp.Diff(want, lines(got, keys...)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The reshape block ends with a blank line before Update Time.
	if !strings.Contains(got, "  New Chunksize : 128K\n\n    Update Time") {
		t.Errorf("no blank line after the reshape block:\n%s", got)
	}
}

func TestExamineVersion10(t *testing.T) {
	m := member()
	sb := m.Super
	sb.SuperOffset, sb.DataOffset, sb.BitmapOffset = 131056, 0, -16
	sb.BBLogOffset = -8
	got := lines(render(t, m, utc), "Version", "Data Offset", "Super Offset", "Unused Space", "Internal Bitmap")
	// Space after the data ends at the bitmap (super_offset - 16 sectors):
	// 131040 - 126976.
	want := "        Version : 1.0\n   Super Offset : 131056 sectors\n" +
		"   Unused Space : before=0 sectors, after=4064 sectors\nInternal Bitmap : -16 sectors from superblock"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestExamineJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, NewExamine(member(), utc)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"device": "/dev/vdb", "magic": float64(0xa92b4efc), "version": "1.2", "feature_map": float64(0x101),
		"array_uuid": "10d42f6e:50470313:e0146ae7:b4d871b2", "name": "node1:md0", "cluster_name": "mdcluster",
		"creation_time": "2023-11-14T22:13:20Z", "raid_level": "raid1", "raid_devices": float64(2),
		"avail_dev_sectors": float64(126976), "array_size_kib": float64(63488), "data_offset": float64(4096),
		"super_offset": float64(8), "unused_space": map[string]any{"before": float64(4016), "after": float64(0)},
		"state": "clean", "device_uuid": "aabbccdd:01020304:05060708:090a0b0c", "internal_bitmap_offset": float64(8),
		"update_time":   "2023-11-14T22:15:00Z",
		"bad_block_log": map[string]any{"entries": float64(512), "offset": float64(16), "bad_blocks_present": false},
		"checksum":      float64(0x1234abcd), "checksum_expected": float64(0x1234abcd), "checksum_correct": true,
		"events": float64(17), "device_role": "Active device 1", "array_state": "AA",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func ExampleExamine_WriteText() {
	m := member()
	m.Bitmap.Nodes, m.Super.FeatureMap = 0, bitmap.FeatureBitmapOffset
	opt := Options{Location: time.UTC}
	var b bytes.Buffer
	_ = NewExamine(m, opt).WriteText(&b, opt)
	fmt.Print(lines(b.String(), "Version", "Feature Map", "Array Size", "Array State"))
	// Output:
	//         Version : 1.2
	//     Feature Map : 0x1
	//      Array Size : 63488 KiB (62.00 MiB 65.01 MB)
	//    Array State : AA ('A' == active, '.' == missing, 'R' == replacing)
}
