package md

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Array is the state of one md array as /sys/block/<Name>/md shows it. Attributes that a level
// or state does not have (sync_* on RAID0 or on an inactive array) read as their zero value.
type Array struct {
	Name  string // kernel name: "md0", "md127"
	Major uint32 // block device number, from /sys/block/<Name>/dev
	Minor uint32

	Level     string     // level: "raid1", "raid5", "raid10", …; "" while inactive
	State     ArrayState // array_state
	RaidDisks int        // raid_disks (the new count during a reshape)
	Degraded  int        // degraded: missing members; redundant levels only

	SyncAction     SyncAction    // sync_action: what the sync thread does now
	LastSyncAction SyncAction    // last_sync_action; "none" before the first sync
	SyncCompleted  *SyncProgress // sync_completed; nil when no sync runs ("none")
	SyncMin        uint64        // sync_min, sectors
	SyncMax        uint64        // sync_max, sectors; NoSyncMax for "max"
	SyncSpeed      *uint64       // sync_speed, KiB/s over the last seconds; nil when no sync runs
	SyncSpeedMin   SpeedLimit    // sync_speed_min
	SyncSpeedMax   SpeedLimit    // sync_speed_max
	MismatchCount  uint64        // mismatch_cnt, sectors found different by the last check/repair
	SuspendLo      uint64        // suspend_lo, sectors
	SuspendHi      uint64        // suspend_hi, sectors

	UUID            UUID   // uuid
	MetadataVersion string // metadata_version: "1.2", "0.90", "external:…", "none"
	ChunkSize       uint64 // chunk_size, bytes (0 for RAID1)
	ComponentSize   uint64 // component_size, KiB used on each member

	Bitmap  *Bitmap  // bitmap/; nil when the array has none (location "none")
	Members []Member // dev-*/, sorted by name
}

// Member is one component device of an array (/sys/block/mdN/md/dev-<Name>).
type Member struct {
	Name   string       // block device name: "vda", "sdb1"
	Major  uint32       // from dev-<Name>/block/dev
	Minor  uint32       //
	State  []MemberFlag // state, in the kernel's order
	Slot   int          // slot: the role in the array, or -1 for "none" (spare, faulty)
	Errors uint64       // errors: read errors corrected since the member was added
}

// Has reports whether the member's state includes f.
func (m Member) Has(f MemberFlag) bool { return slices.Contains(m.State, f) }

// Bitmap is an array's write-intent bitmap (/sys/block/mdN/md/bitmap).
type Bitmap struct {
	Location  string // location: "+8" (sectors from the superblock) or "file"
	Offset    int64  // Location as a signed sector offset; 0 for "file"
	ChunkSize uint64 // chunksize, bytes of array per bit
	Metadata  string // metadata: "internal", "clustered" or "external"
}

// Clustered reports whether the bitmap has one slot per md-cluster node.
func (b *Bitmap) Clustered() bool { return b != nil && b.Metadata == "clustered" }

// SyncProgress is sync_completed while a sync runs: Done of Total sectors, or Delayed while the
// sync waits for another array on the same devices.
type SyncProgress struct {
	Delayed bool
	Done    uint64 // sectors
	Total   uint64 // sectors
}

// SpeedLimit is sync_speed_min or sync_speed_max: the limit in KiB/s and whether it is the
// array's own ("local") or the system-wide /proc/sys/dev/raid value ("system").
type SpeedLimit struct {
	KiBps uint64
	Local bool
}

// NoSyncMax is SyncMax when sync_max reads "max" (no upper limit).
const NoSyncMax = ^uint64(0)

// ArrayState is an array_state value.
type ArrayState string

// Array states (Documentation/admin-guide/md.rst, "array_state").
const (
	ArrayClear        ArrayState = "clear"         // no devices, no size, no level
	ArrayInactive     ArrayState = "inactive"      // has devices, not started
	ArraySuspended    ArrayState = "suspended"     // started, all I/O blocked
	ArrayReadonly     ArrayState = "readonly"      // started read-only
	ArrayReadAuto     ArrayState = "read-auto"     // read-only until the first write
	ArrayClean        ArrayState = "clean"         // running, no writes pending
	ArrayActive       ArrayState = "active"        // running, writes in flight
	ArrayWritePending ArrayState = "write-pending" // a write waits for the superblock update
	ArrayActiveIdle   ArrayState = "active-idle"   // active but the superblock says clean
	ArrayBroken       ArrayState = "broken"        // RAID0/linear lost a member
)

// SyncAction is a sync_action (or last_sync_action) value.
type SyncAction string

// Sync actions. Writing SyncFrozen stops the sync thread and keeps it from starting; writing
// SyncIdle interrupts the current sync and lets md choose what to do next.
const (
	SyncIdle     SyncAction = "idle"
	SyncFrozen   SyncAction = "frozen"
	SyncResync   SyncAction = "resync"
	SyncRecover  SyncAction = "recover"
	SyncCheck    SyncAction = "check"
	SyncRepair   SyncAction = "repair"
	SyncReshape  SyncAction = "reshape"
	SyncNone     SyncAction = "none"     // last_sync_action before any sync ran
	SyncRecovery SyncAction = "recovery" // last_sync_action after a recover
)

// MemberFlag is one comma-separated word of a member's state attribute.
type MemberFlag string

// Member state flags as the kernel prints them (drivers/md/md.c state_show).
const (
	MemberFaulty          MemberFlag = "faulty"
	MemberInSync          MemberFlag = "in_sync"
	MemberJournal         MemberFlag = "journal"
	MemberWriteMostly     MemberFlag = "write_mostly"
	MemberBlocked         MemberFlag = "blocked"
	MemberSpare           MemberFlag = "spare"
	MemberWriteError      MemberFlag = "write_error"
	MemberWantReplacement MemberFlag = "want_replacement"
	MemberReplacement     MemberFlag = "replacement"
	MemberExternalBBL     MemberFlag = "external_bbl"
	MemberFailFast        MemberFlag = "failfast"
)

// MemberCommand is a word written to a member's state attribute.
type MemberCommand string

// Member state commands (Documentation/admin-guide/md.rst, "dev-XXX/state").
const (
	MemberSetFaulty  MemberCommand = "faulty"   // fail the device
	MemberRemove     MemberCommand = "remove"   // detach a failed or spare device
	MemberReAdd      MemberCommand = "re-add"   // put a failed, slot-less device back
	MemberSetBlocked MemberCommand = "blocked"  // hold failure handling
	MemberUnblock    MemberCommand = "-blocked" // release it
)

// UUID is an md array or device UUID, the 16 bytes that sysfs, md-cluster's lockspace name and
// its uevents print in the kernel's %pU form (8-4-4-4-12 hex digits).
type UUID [16]byte

// String returns u in %pU form, e.g. "10d42f6e-5047-0313-e014-6ae7b4d871b2".
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// uuidSeparators drops the separators of both UUID forms; built once, as building a Replacer
// costs more than parsing a UUID.
var uuidSeparators = strings.NewReplacer("-", "", ":", "")

// ParseUUID parses a UUID in %pU form; it also accepts mdadm's colon-separated form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := uuidSeparators.Replace(strings.TrimSpace(s))
	if len(h) != 32 {
		return u, fmt.Errorf("%w: uuid %q", ErrParse, s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("%w: uuid %q: %v", ErrParse, s, err)
	}
	return u, nil
}

// Colon returns u as mdadm prints it: four groups of 8 hex digits joined by ':'.
func (u UUID) Colon() string {
	h := hex.EncodeToString(u[:])
	return h[:8] + ":" + h[8:16] + ":" + h[16:24] + ":" + h[24:]
}
