package md

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// SetSyncAction writes sync_action: SyncFrozen stops the sync thread and keeps it stopped;
// SyncIdle lifts a freeze and interrupts a running sync, after which md restarts whatever the
// array still needs (a frozen resync resumes where it stopped); SyncCheck, SyncRepair,
// SyncResync and SyncRecover request one.
func (f FS) SetSyncAction(array string, a SyncAction) error {
	return f.writeAttr(array, "sync_action", string(a))
}

// SetSyncMin writes sync_min, the sector where the next sync starts. md refuses it while a sync
// runs and when it is not a multiple of the chunk size.
func (f FS) SetSyncMin(array string, sectors uint64) error {
	return f.writeAttr(array, "sync_min", strconv.FormatUint(sectors, 10))
}

// SetSyncMax writes sync_max, the sector where syncing pauses; NoSyncMax writes "max".
func (f FS) SetSyncMax(array string, sectors uint64) error {
	v := "max"
	if sectors != NoSyncMax {
		v = strconv.FormatUint(sectors, 10)
	}
	return f.writeAttr(array, "sync_max", v)
}

// SetSyncSpeedMin sets the array's own minimum sync speed in KiB/s; 0 writes "system", which
// returns the array to /proc/sys/dev/raid/speed_limit_min.
func (f FS) SetSyncSpeedMin(array string, kibps uint64) error {
	return f.writeAttr(array, "sync_speed_min", speedValue(kibps))
}

// SetSyncSpeedMax sets the array's own maximum sync speed in KiB/s; 0 writes "system".
func (f FS) SetSyncSpeedMax(array string, kibps uint64) error {
	return f.writeAttr(array, "sync_speed_max", speedValue(kibps))
}

func speedValue(kibps uint64) string {
	if kibps == 0 {
		return "system"
	}
	return strconv.FormatUint(kibps, 10)
}

// SetMemberState writes a command to a member's state attribute (dev-<member>/state), e.g.
// MemberSetFaulty, MemberRemove, MemberReAdd or MemberUnblock.
func (f FS) SetMemberState(array, member string, c MemberCommand) error {
	if _, err := f.mdDir(member); err != nil {
		return fmt.Errorf("md: %s: bad member name %q", array, member)
	}
	return f.writeAttr(array, filepath.Join("dev-"+member, "state"), string(c))
}

// SetArrayState writes array_state (e.g. ArrayReadonly, ArrayActive, ArrayInactive, ArrayClear).
func (f FS) SetArrayState(array string, s ArrayState) error {
	return f.writeAttr(array, "array_state", string(s))
}

// Stop stops the array and releases its members by writing "clear" to array_state, as
// mdadm --stop does with STOP_ARRAY. md refuses (EBUSY) while the array is open.
func (f FS) Stop(array string) error { return f.SetArrayState(array, ArrayClear) }

// SystemSpeedLimits reads /proc/sys/dev/raid/speed_limit_min and _max (KiB/s), the defaults of
// arrays without their own limits.
func (f FS) SystemSpeedLimits() (min, max uint64, err error) {
	var v [2]uint64
	for i, n := range []string{"speed_limit_min", "speed_limit_max"} {
		s, _, err := readFile(filepath.Join(f.root, "proc/sys/dev/raid", n))
		if err == nil {
			v[i], err = strconv.ParseUint(s, 10, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("md: %s: %w", n, err)
		}
	}
	return v[0], v[1], nil
}

// SetSystemSpeedLimits writes /proc/sys/dev/raid/speed_limit_min and _max (KiB/s).
func (f FS) SetSystemSpeedLimits(min, max uint64) error {
	for n, v := range map[string]uint64{"speed_limit_min": min, "speed_limit_max": max} {
		p := filepath.Join(f.root, "proc/sys/dev/raid", n)
		if err := writeFile(p, strconv.FormatUint(v, 10)); err != nil {
			return fmt.Errorf("md: write %d to %s: %w: %w", v, n, ErrWrite, err)
		}
	}
	return nil
}

// writeAttr writes one value to an array attribute in a single write(2), as sysfs needs.
func (f FS) writeAttr(array, attr, value string) error {
	dir, err := f.mdDir(array)
	if err != nil {
		return err
	}
	err = writeFile(filepath.Join(dir, attr), value)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("%w: %s", ErrNoArray, array)
		}
	}
	if err != nil {
		return fmt.Errorf("md: %s: write %q to %s: %w: %w", array, value, attr, ErrWrite, err)
	}
	return nil
}

func writeFile(path, value string) error {
	fl, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fl.Write([]byte(value))
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	return err
}
