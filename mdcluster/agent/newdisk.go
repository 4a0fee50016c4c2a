package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/md"
)

// errNoSuchDevice means no local block device carries the wanted md device UUID.
var errNoSuchDevice = errors.New("no local device carries that md device UUID")

// confirmNewDisk answers md-cluster's new-disk request for a member another node added: the
// kernel waits a few seconds for ADD_NEW_DISK with MD_DISK_CANDIDATE naming the local device
// whose v1 superblock has the device UUID, or for CLUSTERED_DISK_NACK when there is none.
func (a *Agent) confirmNewDisk(ev *md.NewDiskEvent) error {
	dev, err := md.OpenDevice(filepath.Join(a.paths.Dev, ev.Array))
	if err != nil {
		return fmt.Errorf("open /dev/%s: %w", ev.Array, err)
	}
	defer dev.Close()
	major, minor, name, sb, err := findByDeviceUUID(filepath.Join(a.paths.Sys, "class", "block"), a.paths.Dev, ev.DeviceUUID)
	why := ""
	switch {
	case errors.Is(err, errNoSuchDevice):
		why = "no local device carries it"
	case err != nil:
		return err
	default:
		why = reAddRefusal(sb)
	}
	if why != "" {
		a.rec.countNewDisk(false)
		a.log.Warn("new disk refused: NACK", "md", ev.Array, "device", name, "device_uuid", ev.DeviceUUID.String(), "raid_disk", ev.RaidDisk, "why", why)
		a.events.emit(api.Event{Type: api.EventNewDiskNack, Reason: why, Fields: fields("md", ev.Array, "device", name,
			"device_uuid", ev.DeviceUUID.String(), "raid_disk", fmt.Sprint(ev.RaidDisk))})
		if nerr := dev.ClusteredDiskNack(); nerr != nil {
			return fmt.Errorf("nack new disk %s on %s: %w", ev.DeviceUUID, ev.Array, nerr)
		}
		return nil
	}
	info := md.DiskInfo{Major: int32(major), Minor: int32(minor), RaidDisk: int32(ev.RaidDisk), State: md.DiskCandidate}
	if err := dev.AddNewDisk(info); err != nil {
		return fmt.Errorf("confirm new disk %s (%s) on %s: %w", name, ev.DeviceUUID, ev.Array, err)
	}
	a.rec.countNewDisk(true)
	a.events.emit(api.Event{Type: api.EventNewDiskConfirm, Fields: fields("md", ev.Array, "device", name,
		"device_uuid", ev.DeviceUUID.String(), "raid_disk", fmt.Sprint(ev.RaidDisk))})
	a.log.Info("confirmed new disk", "md", ev.Array, "device", name, "device_uuid", ev.DeviceUUID.String(), "raid_disk", ev.RaidDisk)
	return nil
}

// reAddRefusal says why a device md-cluster asks this node to take may not be confirmed, or ""
// when it may. A device whose own superblock still gives it an active slot is a re-add (mdadm
// --re-add, or --add of a member that was failed and removed): the node that re-adds it recovers
// it from its own bitmap only — the other nodes' bitmaps are gathered only by a re-add written
// to sysfs — so the writes other nodes made while it was out are never copied to it, and reads
// served from it return old data (the fault campaign's finding: acknowledged writes of node2
// read back stale from node1 after node3 re-added a member). Refused: the operator zeroes its
// superblock and adds it again, and the whole member is rebuilt.
func reAddRefusal(sb *bitmap.Superblock) string {
	if r := sb.Role(); r <= bitmap.RoleMax {
		return fmt.Sprintf("a re-add (its superblock still names it member %d): md-cluster would rebuild it from the re-adding node's bitmap only and lose the other nodes' writes made meanwhile; zero its superblock and add it again", r)
	}
	return ""
}

// findByDeviceUUID scans the block devices under sysBlock (/sys/class/block) and returns the one
// whose md v1 superblock (1.2, 1.1 or 1.0, read with the bitmap package) has device UUID want,
// with that superblock.
func findByDeviceUUID(sysBlock, devDir string, want md.UUID) (major, minor uint32, name string, sb *bitmap.Superblock, err error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return 0, 0, "", nil, fmt.Errorf("list block devices: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "md") || strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") {
			continue
		}
		sb, err := readSuperblock(filepath.Join(devDir, n), filepath.Join(sysBlock, n, "size"))
		if err != nil || sb.DeviceUUID != want {
			continue
		}
		mm, err := os.ReadFile(filepath.Join(sysBlock, n, "dev"))
		if err != nil {
			return 0, 0, "", nil, err
		}
		parts := strings.SplitN(strings.TrimSpace(string(mm)), ":", 2)
		ma, err1 := strconv.ParseUint(parts[0], 10, 32)
		mi, err2 := strconv.ParseUint(parts[len(parts)-1], 10, 32)
		if len(parts) != 2 || err1 != nil || err2 != nil {
			return 0, 0, "", nil, fmt.Errorf("%s/dev: malformed %q", n, mm)
		}
		return uint32(ma), uint32(mi), n, sb, nil
	}
	return 0, 0, "", nil, errNoSuchDevice
}

// readSuperblock reads dev's md v1 superblock. bitmap.Open drops the pages an earlier reader
// cached: the role in it decides whether a new disk is confirmed, and the node that added it
// wrote it around this node's page cache (a device md still holds here, after md-cluster's
// REMOVE race, keeps the old pages).
func readSuperblock(dev, sizeFile string) (*bitmap.Superblock, error) {
	b, err := os.ReadFile(sizeFile)
	if err != nil {
		return nil, err
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || sectors == 0 {
		return nil, fmt.Errorf("%s: size %q", dev, b)
	}
	f, err := bitmap.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sb, _, err := bitmap.NewReader(f.File, sectors*512).ProbeSuperblock()
	return sb, err
}
