//go:build !vmguest

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
				UUID: mustUUID(t, "a1000000-0000-0000-0000-000000000001"), MetadataVersion: "1.2",
				ComponentSize: 65536, Bitmap: internalBitmap, Members: []Member{vdaInSync, vdbInSync}}
		},
	}, {
		capture: "raid5-nobitmap",
		want: func(t *testing.T) Array {
			return Array{Name: "md1", Major: 9, Minor: 1, Level: "raid5", State: ArrayClean, RaidDisks: 3,
				SyncAction: SyncIdle, LastSyncAction: SyncRecovery, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "a5000000-0000-0000-0000-000000000002"), MetadataVersion: "1.2",
				ChunkSize: 64 << 10, ComponentSize: 32768, Members: []Member{vdaInSync, vdbInSync, vdcInSync}}
		},
	}, {
		capture: "raid10",
		want: func(t *testing.T) Array {
			return Array{Name: "md2", Major: 9, Minor: 2, Level: "raid10", State: ArrayClean, RaidDisks: 4,
				SyncAction: SyncIdle, LastSyncAction: SyncResync, SyncMax: NoSyncMax,
				SyncSpeedMin: systemMin, SyncSpeedMax: systemMax,
				UUID: mustUUID(t, "a1000000-0000-0000-0000-000000000003"), MetadataVersion: "1.2",
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
				UUID: mustUUID(t, "a1000000-0000-0000-0000-000000000004"), MetadataVersion: "1.2",
				ComponentSize: 32768, Bitmap: internalBitmap,
				Members: []Member{vda, {Name: "vdb", Major: 254, Minor: 16, State: []MemberFlag{MemberFaulty}, Slot: -1}}}
		},
	}, {
		// A resync held at sync_max, the array's own maximum speed set. sync_speed varies from
		// one capture to the next: the test takes it from the capture.
		capture: "raid1-resync-held",
		want: func(t *testing.T) Array {
			return Array{Name: "md4", Major: 9, Minor: 4, Level: "raid1", State: ArrayClean, RaidDisks: 2,
				SyncAction: SyncResync, LastSyncAction: SyncResync,
				SyncCompleted: &SyncProgress{Done: 65536, Total: 131072}, SyncMax: 65536,
				SyncSpeed: ptr[uint64](0), SyncSpeedMin: systemMin, SyncSpeedMax: SpeedLimit{KiBps: 3000, Local: true},
				UUID: mustUUID(t, "a1000000-0000-0000-0000-000000000005"), MetadataVersion: "1.2",
				ComponentSize: 65536, Bitmap: internalBitmap, Members: []Member{vdaInSync, vdbInSync}}
		},
	}, {
		// One of two members assembled by mdadm --incremental: not started, so no level, no
		// sync attributes, an all-zero uuid, and the member a spare without a slot.
		capture: "raid1-inactive",
		want: func(t *testing.T) Array {
			return Array{Name: "md6", Major: 9, Minor: 6, State: ArrayInactive, SyncMax: NoSyncMax,
				MetadataVersion: "1.2", ComponentSize: 261120,
				Members: []Member{{Name: "vda", Major: 254, Minor: 0, State: []MemberFlag{MemberSpare}, Slot: -1}}}
		},
	}, {
		// Resync frozen part-way, under a system speed limit of 2000, with local sync_speed_min
		// and a sync window.
		capture: "raid1-frozen",
		want: func(t *testing.T) Array {
			return Array{Name: "md5", Major: 9, Minor: 5, Level: "raid1", State: ArrayClean, RaidDisks: 2,
				SyncAction: SyncFrozen, LastSyncAction: SyncResync, SyncMin: 1024, SyncMax: 65536,
				SyncSpeedMin: SpeedLimit{KiBps: 1500, Local: true}, SyncSpeedMax: SpeedLimit{KiBps: 2000},
				UUID: mustUUID(t, "a1000000-0000-0000-0000-000000000006"), MetadataVersion: "1.2",
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
			if want.SyncSpeed != nil && len(got) == 1 && got[0].SyncSpeed != nil {
				want.SyncSpeed = got[0].SyncSpeed // a rate measured at capture time
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
		{"raid1-resync-held", procfs.MDStat{Name: "md4", Type: "raid1", ActivityState: "resyncing", DisksActive: 2,
			DisksTotal: 2, BlocksTotal: 65536, BlocksSynced: 32768, BlocksToBeSynced: 65536, BlocksSyncedPct: 49.6,
			Devices: []procfs.MDStatComponent{{Name: "vdb", DescriptorIndex: 1}, {Name: "vda", DescriptorIndex: 0}}}},
		{"raid1-inactive", procfs.MDStat{Name: "md6", Type: "unknown", ActivityState: "inactive", DisksActive: 0,
			DisksSpare: 1, BlocksTotal: 261120, BlocksSynced: 261120, BlocksToBeSynced: 261120,
			Devices: []procfs.MDStatComponent{{Name: "vda", DescriptorIndex: 0, Spare: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			got, err := loadCapture(t, tt.capture).MDStat()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 1 && got[0].BlocksSyncedSpeed != 0 {
				// Rate and finish estimate were measured at capture time.
				tt.want.BlocksSyncedSpeed, tt.want.BlocksSyncedFinishTime = got[0].BlocksSyncedSpeed, got[0].BlocksSyncedFinishTime
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
