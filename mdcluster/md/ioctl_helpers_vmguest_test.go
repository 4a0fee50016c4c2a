//go:build vmguest

package md

import (
	"fmt"
	"unsafe"
)

// The ioctls below only the guest tests use: they show on the real kernel what mdadm does with
// them (the product leaves failing, removing, running and stopping arrays to mdadm).

// raidVersion returns the md driver's version (RAID_VERSION; 0.90.3 on current kernels).
func (d *Device) raidVersion() (Version, error) {
	var v Version
	err := d.wrap("RAID_VERSION", d.ioctlPtr(reqRaidVersion, unsafe.Pointer(&v)))
	return v, err
}

// hotRemoveDisk removes the faulty or spare member major:minor from the array
// (HOT_REMOVE_DISK); md answers EBUSY for a member that still has a role.
func (d *Device) hotRemoveDisk(major, minor uint32) error {
	return d.wrap(fmt.Sprintf("HOT_REMOVE_DISK %d:%d", major, minor), d.ioctlArg(reqHotRemoveDisk, newEncodeDev(major, minor)))
}

// setDiskFaulty fails the member major:minor (SET_DISK_FAULTY); md answers EBUSY when failing
// it would stop the array.
func (d *Device) setDiskFaulty(major, minor uint32) error {
	return d.wrap(fmt.Sprintf("SET_DISK_FAULTY %d:%d", major, minor), d.ioctlArg(reqSetDiskFaulty, newEncodeDev(major, minor)))
}

// runArray starts an assembled, inactive array (RUN_ARRAY).
func (d *Device) runArray() error {
	var p arrayParam
	return d.wrap("RUN_ARRAY", d.ioctlPtr(reqRunArray, unsafe.Pointer(&p)))
}

// stopArray stops the array and releases its members (STOP_ARRAY); md answers EBUSY while
// anyone but this Device has it open.
func (d *Device) stopArray() error {
	return d.wrap("STOP_ARRAY", d.ioctlArg(reqStopArray, 0))
}
