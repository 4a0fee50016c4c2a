package md

import (
	"bytes"
	"fmt"
	"unsafe"
)

// Layouts of include/uapi/linux/raid/md_u.h for x86_64 (every field a C int, 4 bytes).
// ioctl_test.go checks their sizes against the kernel's (md-cluster-facts.md) and recomputes the
// request numbers from the _IOR/_IOW encoding.

// ArrayInfo is mdu_array_info_t (72 bytes), what GET_ARRAY_INFO returns.
type ArrayInfo struct {
	MajorVersion  int32 // superblock major version (1 for v1.x)
	MinorVersion  int32 // 0, 1 or 2 for v1.0, v1.1, v1.2
	PatchVersion  int32
	Ctime         uint32 // creation time, Unix seconds
	Level         int32  // 1, 5, 10, …; 0 RAID0, -1 linear
	Size          int32  // KiB used per member (truncated to 32 bits)
	NrDisks       int32  // devices known to the array, failed and spare included
	RaidDisks     int32
	MdMinor       int32
	NotPersistent int32
	Utime         uint32 // last superblock update, Unix seconds
	State         int32  // ArrayStateClean, ArrayStateBitmapPresent, … bits
	ActiveDisks   int32
	WorkingDisks  int32
	FailedDisks   int32
	SpareDisks    int32
	Layout        int32
	ChunkSize     int32 // bytes
}

// ArrayInfo.State bits (MD_SB_*).
const (
	ArrayStateClean         = 1 << 0 // MD_SB_CLEAN
	ArrayStateClustered     = 1 << 5 // MD_SB_CLUSTERED
	ArrayStateBitmapPresent = 1 << 8 // MD_SB_BITMAP_PRESENT
)

// DiskInfo is mdu_disk_info_t (20 bytes): GET_DISK_INFO fills it for Number; ADD_NEW_DISK takes
// Major, Minor, RaidDisk and State.
type DiskInfo struct {
	Number   int32 // descriptor number in the superblock
	Major    int32
	Minor    int32
	RaidDisk int32 // role in the array, -1 for none
	State    int32 // DiskFaulty, DiskActive, … bits
}

// DiskInfo.State bits (MD_DISK_*).
const (
	DiskFaulty      = 1 << 0  // MD_DISK_FAULTY
	DiskActive      = 1 << 1  // MD_DISK_ACTIVE
	DiskSync        = 1 << 2  // MD_DISK_SYNC
	DiskRemoved     = 1 << 3  // MD_DISK_REMOVED: GET_DISK_INFO's answer for an unused number
	DiskClusterAdd  = 1 << 4  // MD_DISK_CLUSTER_ADD: ADD_NEW_DISK initiating an md-cluster add
	DiskCandidate   = 1 << 5  // MD_DISK_CANDIDATE: ADD_NEW_DISK confirming a peer's add
	DiskWriteMostly = 1 << 9  // MD_DISK_WRITEMOSTLY
	DiskFailFast    = 1 << 10 // MD_DISK_FAILFAST
	DiskJournal     = 1 << 18 // MD_DISK_JOURNAL
)

// MaxDisks bounds the descriptor numbers Device.Disks asks about (mdadm's MAX_DISKS).
const MaxDisks = 4096

// bitmapFile is mdu_bitmap_file_t: a NUL-terminated path, 4096 bytes.
type bitmapFile struct {
	Pathname [4096]byte
}

// arrayParam is mdu_param_t (12 bytes), RUN_ARRAY's argument, which the kernel ignores.
type arrayParam struct {
	Personality int32
	ChunkSize   int32
	MaxFault    int32
}

// Version is mdu_version_t (12 bytes), what RAID_VERSION returns.
type Version struct {
	Major, Minor, Patchlevel int32
}

// ioctl request encoding (include/uapi/asm-generic/ioctl.h).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
	mdMajor  = 9
)

func ioc(dir, nr, size uintptr) uint {
	return uint(dir<<30 | size<<16 | mdMajor<<8 | nr)
}

// md ioctl requests (x86_64), the values md-cluster-facts.md lists.
const (
	reqRaidVersion       = 0x800c0910 // _IOR(9, 0x10, mdu_version_t)
	reqGetArrayInfo      = 0x80480911 // _IOR(9, 0x11, mdu_array_info_t)
	reqGetDiskInfo       = 0x80140912 // _IOR(9, 0x12, mdu_disk_info_t)
	reqGetBitmapFile     = 0x90000915 // _IOR(9, 0x15, mdu_bitmap_file_t)
	reqAddNewDisk        = 0x40140921 // _IOW(9, 0x21, mdu_disk_info_t)
	reqHotRemoveDisk     = 0x922      // _IO(9, 0x22), arg = dev_t
	reqSetDiskFaulty     = 0x929      // _IO(9, 0x29), arg = dev_t
	reqRunArray          = 0x400c0930 // _IOW(9, 0x30, mdu_param_t)
	reqStopArray         = 0x932      // _IO(9, 0x32)
	reqClusteredDiskNack = 0x935      // _IO(9, 0x35)
)

// newEncodeDev is the kernel's new_encode_dev: the 32-bit dev_t that HOT_REMOVE_DISK and
// SET_DISK_FAULTY take by value.
func newEncodeDev(major, minor uint32) uintptr {
	return uintptr(minor&0xff | major<<8 | (minor&^0xff)<<12)
}

// ArrayInfo returns the array's summary (GET_ARRAY_INFO). md answers ENODEV for an array
// without members.
func (d *Device) ArrayInfo() (ArrayInfo, error) {
	var a ArrayInfo
	err := d.wrap("GET_ARRAY_INFO", d.ioctlPtr(reqGetArrayInfo, unsafe.Pointer(&a)))
	return a, err
}

// DiskInfo returns descriptor number's device (GET_DISK_INFO). An unused number comes back
// with State DiskRemoved, Major and Minor 0 and RaidDisk -1.
func (d *Device) DiskInfo(number int) (DiskInfo, error) {
	di := DiskInfo{Number: int32(number)}
	err := d.wrap(fmt.Sprintf("GET_DISK_INFO %d", number), d.ioctlPtr(reqGetDiskInfo, unsafe.Pointer(&di)))
	return di, err
}

// Disks returns every used descriptor's DiskInfo, asking GET_DISK_INFO until it has found
// ArrayInfo.NrDisks of them (or MaxDisks numbers), as mdadm --detail does.
func (d *Device) Disks() ([]DiskInfo, error) {
	ai, err := d.ArrayInfo()
	if err != nil {
		return nil, err
	}
	var disks []DiskInfo
	for n := 0; n < MaxDisks && len(disks) < int(ai.NrDisks); n++ {
		di, err := d.DiskInfo(n)
		if err != nil {
			return nil, err
		}
		if di.Major != 0 || di.Minor != 0 {
			disks = append(disks, di)
		}
	}
	return disks, nil
}

// BitmapFile returns the path of the array's external bitmap file (GET_BITMAP_FILE), or "" when
// the array has an internal bitmap or none.
func (d *Device) BitmapFile() (string, error) {
	bf := new(bitmapFile)
	if err := d.wrap("GET_BITMAP_FILE", d.ioctlPtr(reqGetBitmapFile, unsafe.Pointer(bf))); err != nil {
		return "", err
	}
	p, _, _ := bytes.Cut(bf.Pathname[:], []byte{0})
	return string(p), nil
}

// AddNewDisk adds the block device Major:Minor to the array (ADD_NEW_DISK). On a running array
// md reads the device's superblock: a former member comes back (re-add, a bitmap-based
// recovery), a blank one becomes a spare. In an md-cluster, State DiskClusterAdd starts an add
// that every peer must confirm; a peer answers a NewDiskEvent within about 5 s with State
// DiskCandidate, Number the event's RaidDisk and its own major:minor of the device (or refuses
// with ClusteredDiskNack, and the initiator's add fails with ENOENT).
func (d *Device) AddNewDisk(info DiskInfo) error {
	return d.wrap(fmt.Sprintf("ADD_NEW_DISK %d:%d state %#x", info.Major, info.Minor, info.State),
		d.ioctlPtr(reqAddNewDisk, unsafe.Pointer(&info)))
}

// ClusteredDiskNack refuses a pending md-cluster new-disk request (CLUSTERED_DISK_NACK); md
// answers EINVAL on an array that is not clustered.
func (d *Device) ClusteredDiskNack() error {
	return d.wrap("CLUSTERED_DISK_NACK", d.ioctlArg(reqClusteredDiskNack, 0))
}

func (d *Device) wrap(op string, err error) error {
	if err != nil {
		return fmt.Errorf("md: %s: %s: %w", d.path, op, err)
	}
	return nil
}
