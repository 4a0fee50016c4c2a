package md

import (
	"testing"
	"unsafe"
)

// TestLayouts checks the struct sizes against the kernel's (md_u.h on x86_64).
func TestLayouts(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		{"mdu_array_info_t", unsafe.Sizeof(ArrayInfo{}), 72},
		{"mdu_disk_info_t", unsafe.Sizeof(DiskInfo{}), 20},
		{"mdu_bitmap_file_t", unsafe.Sizeof(bitmapFile{}), 4096},
		{"mdu_param_t", unsafe.Sizeof(arrayParam{}), 12},
		{"mdu_version_t", unsafe.Sizeof(Version{}), 12},
	} {
		if tt.got != tt.want {
			t.Errorf("sizeof %s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	// Field offsets the kernel reads by position.
	var a ArrayInfo
	if off := unsafe.Offsetof(a.State); off != 44 {
		t.Errorf("mdu_array_info_t.state at %d, want 44", off)
	}
	if off := unsafe.Offsetof(a.ChunkSize); off != 68 {
		t.Errorf("mdu_array_info_t.chunk_size at %d, want 68", off)
	}
	var d DiskInfo
	if off := unsafe.Offsetof(d.State); off != 16 {
		t.Errorf("mdu_disk_info_t.state at %d, want 16", off)
	}
}

// TestRequestNumbers recomputes every request from _IO/_IOR/_IOW and the struct sizes.
func TestRequestNumbers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uint
	}{
		{"RAID_VERSION", reqRaidVersion, ioc(iocRead, 0x10, unsafe.Sizeof(Version{}))},
		{"GET_ARRAY_INFO", reqGetArrayInfo, ioc(iocRead, 0x11, unsafe.Sizeof(ArrayInfo{}))},
		{"GET_DISK_INFO", reqGetDiskInfo, ioc(iocRead, 0x12, unsafe.Sizeof(DiskInfo{}))},
		{"GET_BITMAP_FILE", reqGetBitmapFile, ioc(iocRead, 0x15, unsafe.Sizeof(bitmapFile{}))},
		{"ADD_NEW_DISK", reqAddNewDisk, ioc(iocWrite, 0x21, unsafe.Sizeof(DiskInfo{}))},
		{"HOT_REMOVE_DISK", reqHotRemoveDisk, ioc(iocNone, 0x22, 0)},
		{"SET_DISK_FAULTY", reqSetDiskFaulty, ioc(iocNone, 0x29, 0)},
		{"RUN_ARRAY", reqRunArray, ioc(iocWrite, 0x30, unsafe.Sizeof(arrayParam{}))},
		{"STOP_ARRAY", reqStopArray, ioc(iocNone, 0x32, 0)},
		{"CLUSTERED_DISK_NACK", reqClusteredDiskNack, ioc(iocNone, 0x35, 0)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

func TestNewEncodeDev(t *testing.T) {
	for _, tt := range []struct {
		major, minor uint32
		want         uintptr
	}{
		{254, 16, 0xfe10},
		{9, 0, 0x900},
		{8, 300, 0x10082c}, // minor 0x12c: low byte 0x2c, high bits 0x100 moved up 12
	} {
		if got := newEncodeDev(tt.major, tt.minor); got != tt.want {
			t.Errorf("newEncodeDev(%d, %d) = %#x, want %#x", tt.major, tt.minor, got, tt.want)
		}
	}
}
