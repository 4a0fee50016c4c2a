package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"mdcluster.dev/mdcluster/md"
)

// Reader looks at md as mdadm's monitor does. SysReader reads the running system; tests give
// their own.
type Reader interface {
	// Mdstat lists /proc/mdstat's arrays.
	Mdstat() []md.MdstatEntry
	// Look reads the array at dev (a /dev path) given mdstat.
	Look(dev string, mdstat []md.MdstatEntry) Snapshot
	// UUID is the array UUID of kernel device devnm in mdadm's form, or "".
	UUID(devnm string) string
	// DevName is the device path mdadm gives kernel device devnm (/dev/md127).
	DevName(devnm string) string
	// Clustered reports whether devnm has an md-cluster (clustered) bitmap: a shared array.
	Clustered(devnm string) bool
}

// SysReader reads md through sysfs, /proc/mdstat and the md ioctls under Root ("/" normally).
type SysReader struct {
	FS   md.FS
	Root string
}

// Mdstat is mdadm's mdstat_read.
func (r SysReader) Mdstat() []md.MdstatEntry { return r.FS.MdadmStat() }

// UUID reads the array's sysfs uuid.
func (r SysReader) UUID(devnm string) string {
	a, err := r.FS.Array(devnm)
	if err != nil || a.UUID == (md.UUID{}) {
		return ""
	}
	return a.UUID.Colon()
}

// Clustered reads the array's bitmap/metadata.
func (r SysReader) Clustered(devnm string) bool {
	a, err := r.FS.Array(devnm)
	return err == nil && a.Bitmap.Clustered()
}

// DevName is /dev/<devnm> when that node is the array's, else /dev/md/<name-part>, as mdadm's
// get_md_name tries them.
func (r SysReader) DevName(devnm string) string {
	want := r.rdev(devnm)
	for _, cand := range []string{"/dev/" + devnm, "/dev/md/" + strings.TrimPrefix(devnm, "md")} {
		if fi, err := os.Stat(filepath.Join(r.Root, cand)); err == nil && want != 0 {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&os.ModeDevice != 0 && st.Rdev == want {
				return cand
			}
		}
	}
	return "/dev/" + devnm
}

// rdev is the device number of kernel block device devnm, 0 if unknown.
func (r SysReader) rdev(devnm string) uint64 {
	b, err := os.ReadFile(filepath.Join(r.Root, "sys", "block", devnm, "dev"))
	if err != nil {
		return 0
	}
	var maj, min uint32
	if n, _ := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &min); n != 2 {
		return 0
	}
	return unix.Mkdev(maj, min)
}

// Look reads one array as check_array does: open it, find it in mdstat, read its sysfs state,
// GET_ARRAY_INFO and GET_DISK_INFO for every descriptor.
func (r SysReader) Look(dev string, mdstat []md.MdstatEntry) Snapshot {
	path := filepath.Join(r.Root, dev)
	fi, err := os.Stat(path)
	if err != nil {
		return Snapshot{Gone: true}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Snapshot{Gone: true}
	}
	d, err := md.OpenDevice(path)
	if err != nil {
		return Snapshot{Gone: true}
	}
	defer d.Close()
	s := Snapshot{Devnm: r.FS.BlockName(md.DevMajor(st.Rdev), md.DevMinor(st.Rdev)), Percent: percentNone}
	for _, e := range mdstat {
		if e.Devnm == s.Devnm {
			s.InMdstat, s.Percent = true, e.Percent
		}
	}
	if !s.InMdstat {
		return s
	}
	sra, err := r.FS.SysfsRead(s.Devnm)
	if err != nil {
		return Snapshot{Gone: true, Devnm: s.Devnm}
	}
	s.Level = sra.Level
	if s.Level != "" && !sra.IsActive() {
		return Snapshot{Gone: true, Devnm: s.Devnm}
	}
	ai, err := d.ArrayInfo()
	if err != nil {
		return Snapshot{Gone: true, Devnm: s.Devnm}
	}
	s.UTime, s.LevelNum = ai.Utime, int(ai.Level)
	s.Active, s.Working, s.Failed, s.Spare, s.Raid = sra.Active, sra.Working, sra.Failed, sra.Spare, sra.RaidDisks
	if a, err := r.FS.Array(s.Devnm); err == nil {
		s.Mismatch, s.Degraded = a.MismatchCount, a.Degraded > 0
	}
	remaining := len(sra.Devs)
	for i := 0; i < md.MaxDisks && remaining > 0; i++ {
		di, err := d.DiskInfo(i)
		if err != nil {
			s.Disks = append(s.Disks, Disk{})
			continue
		}
		disk := Disk{Major: int(di.Major), Minor: int(di.Minor), State: int(di.State)}
		if disk.Major != 0 || disk.Minor != 0 {
			remaining--
			if n := r.FS.BlockName(uint32(di.Major), uint32(di.Minor)); n != "" {
				disk.Name = "/dev/" + n
			}
		}
		s.Disks = append(s.Disks, disk)
	}
	return s
}

// SysResolve gives the number of device path name below root as the monitor records it (0 when
// it does not exist here): a cursor written by another node names its components, and their
// numbers here may differ.
func SysResolve(root string) func(name string) uint64 {
	return func(name string) uint64 {
		fi, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			return 0
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return 0
		}
		return devID(int(md.DevMajor(st.Rdev)), int(md.DevMinor(st.Rdev)))
	}
}
