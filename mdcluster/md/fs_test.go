package md

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

// Members seen in every capture: the lab's virtio disks, major 254.
var (
	vdaInSync = Member{Name: "vda", Major: 254, Minor: 0, State: []MemberFlag{MemberInSync}, Slot: 0}
	vdbInSync = Member{Name: "vdb", Major: 254, Minor: 16, State: []MemberFlag{MemberInSync}, Slot: 1}
	vdcInSync = Member{Name: "vdc", Major: 254, Minor: 32, State: []MemberFlag{MemberInSync}, Slot: 2}
	vddInSync = Member{Name: "vdd", Major: 254, Minor: 48, State: []MemberFlag{MemberInSync}, Slot: 3}

	internalBitmap = &Bitmap{Location: "+8", Offset: 8, ChunkSize: 64 << 20, Metadata: "internal"}
	systemMin      = SpeedLimit{KiBps: 1000}
	systemMax      = SpeedLimit{KiBps: 200000}
)

func TestArrayCaptures(t *testing.T) {
	tests := []struct {
		capture string
		want    func(t *testing.T) Array
	}{{
		capture: "raid1-bitmap",
		want: func(t *testing.T) Array {
			return Array{Name: "md0", Major: 9, Minor: 0, Level: "raid1", State: ArrayClean, RaidDisks: 2,
				SyncAction: SyncIdle, LastSyncAction: SyncResync, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "2dbd896a-68e0-fae8-8841-9241e59c5c4f"), MetadataVersion: "1.2",
				ComponentSize: 65536, Bitmap: internalBitmap, Members: []Member{vdaInSync, vdbInSync}}
		},
	}, {
		capture: "raid5-nobitmap",
		want: func(t *testing.T) Array {
			return Array{Name: "md1", Major: 9, Minor: 1, Level: "raid5", State: ArrayClean, RaidDisks: 3,
				SyncAction: SyncIdle, LastSyncAction: SyncRecovery, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "bee32260-edde-1dff-13e6-46ff7dc36212"), MetadataVersion: "1.2",
				ChunkSize: 64 << 10, ComponentSize: 32768, Members: []Member{vdaInSync, vdbInSync, vdcInSync}}
		},
	}, {
		capture: "raid10",
		want: func(t *testing.T) Array {
			return Array{Name: "md2", Major: 9, Minor: 2, Level: "raid10", State: ArrayClean, RaidDisks: 4,
				SyncAction: SyncIdle, LastSyncAction: SyncResync, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "29f5c8c8-4f82-ab47-17e5-868b9e0fb52c"), MetadataVersion: "1.2",
				ChunkSize: 128 << 10, ComponentSize: 32768,
				Members: []Member{vdaInSync, vdbInSync, vdcInSync, vddInSync}}
		},
	}, {
		// RAID1 of three created with one missing, then one member failed: it keeps no slot.
		capture: "raid1-degraded",
		want: func(t *testing.T) Array {
			vda := vdaInSync
			vda.Slot = 1
			return Array{Name: "md3", Major: 9, Minor: 3, Level: "raid1", State: ArrayClean, RaidDisks: 3,
				Degraded: 2, SyncAction: SyncIdle, LastSyncAction: SyncResync, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "be9585b0-9964-6091-c2b5-9219173ca29b"), MetadataVersion: "1.2",
				ComponentSize: 32768, Bitmap: internalBitmap,
				Members: []Member{vda, {Name: "vdb", Major: 254, Minor: 16, State: []MemberFlag{MemberFaulty}, Slot: -1}}}
		},
	}, {
		// Mid-resync, the array's own maximum speed set.
		capture: "raid1-resyncing",
		want: func(t *testing.T) Array {
			return Array{Name: "md4", Major: 9, Minor: 4, Level: "raid1", State: ArrayClean, RaidDisks: 2,
				SyncAction: SyncResync, LastSyncAction: SyncResync,
				SyncCompleted: &SyncProgress{Done: 8320, Total: 131072}, SyncMax: NoSyncMax,
				SyncSpeed: ptr[uint64](6656), SyncSpeedMin: systemMin, SyncSpeedMax: SpeedLimit{KiBps: 3000, Local: true},
				UUID: mustUUID(t, "53747c28-2b3c-eace-6ace-f7f334109cc4"), MetadataVersion: "1.2",
				ComponentSize: 65536, Bitmap: internalBitmap, Members: []Member{vdaInSync, vdbInSync}}
		},
	}, {
		// Resync frozen part-way, under a system speed limit of 2000, with local sync_speed_min
		// and a sync window.
		capture: "raid1-frozen",
		want: func(t *testing.T) Array {
			return Array{Name: "md5", Major: 9, Minor: 5, Level: "raid1", State: ArrayClean, RaidDisks: 2,
				SyncAction: SyncFrozen, LastSyncAction: SyncResync, SyncMin: 1024, SyncMax: 65536,
				SyncSpeedMin: SpeedLimit{KiBps: 1500, Local: true}, SyncSpeedMax: SpeedLimit{KiBps: 2000},
				UUID: mustUUID(t, "2e95a26f-e233-c27f-63b2-693dd9c535d6"), MetadataVersion: "1.2",
				ComponentSize: 65536, Bitmap: internalBitmap, Members: []Member{vdaInSync, vdbInSync}}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			fs := loadCapture(t, tt.capture)
			want := tt.want(t)
			names, err := fs.ArrayNames()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{want.Name}, names); diff != "" {
				t.Errorf("ArrayNames (-want +got):\n%s", diff)
			}
			got, err := fs.Arrays()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Array{want}, got); diff != "" {
				t.Errorf("Arrays (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMDStatCaptures reads the /proc/mdstat captured with each tree through procfs and checks it
// agrees with sysfs.
func TestMDStatCaptures(t *testing.T) {
	tests := []struct {
		capture string
		want    procfs.MDStat
	}{
		{"raid1-bitmap", procfs.MDStat{Name: "md0", Type: "raid1", ActivityState: "active", DisksActive: 2,
			DisksTotal: 2, BlocksTotal: 65536, BlocksSynced: 65536, BlocksToBeSynced: 65536,
			Devices: []procfs.MDStatComponent{{Name: "vdb", DescriptorIndex: 1}, {Name: "vda", DescriptorIndex: 0}}}},
		{"raid1-degraded", procfs.MDStat{Name: "md3", Type: "raid1", ActivityState: "active", DisksActive: 1,
			DisksTotal: 3, DisksFailed: 1, DisksDown: 2, BlocksTotal: 32768, BlocksSynced: 32768, BlocksToBeSynced: 32768,
			Devices: []procfs.MDStatComponent{{Name: "vdb", DescriptorIndex: 2, Faulty: true}, {Name: "vda", DescriptorIndex: 1}}}},
		{"raid1-resyncing", procfs.MDStat{Name: "md4", Type: "raid1", ActivityState: "resyncing", DisksActive: 2,
			DisksTotal: 2, BlocksTotal: 65536, BlocksSynced: 6656, BlocksToBeSynced: 65536, BlocksSyncedPct: 10,
			BlocksSyncedFinishTime: 0.1, BlocksSyncedSpeed: 6656,
			Devices: []procfs.MDStatComponent{{Name: "vdb", DescriptorIndex: 1}, {Name: "vda", DescriptorIndex: 0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			got, err := loadCapture(t, tt.capture).MDStat()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]procfs.MDStat{tt.want}, got); diff != "" {
				t.Errorf("MDStat (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArrayMissing(t *testing.T) {
	fs := loadCapture(t, "raid1-bitmap")
	for _, name := range []string{"md9", "../md0", "", ".."} {
		if _, err := fs.Array(name); !errors.Is(err, ErrNoArray) {
			t.Errorf("Array(%q): got %v, want ErrNoArray", name, err)
		}
	}
	if _, err := NewFS("testdata/raid1-bitmap.txtar"); err == nil {
		t.Error("NewFS on a file: no error")
	}
}
