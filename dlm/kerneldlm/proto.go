package kerneldlm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"mdcluster.dev/dlm"
)

// Wire format of the DLM user device (include/uapi/linux/dlm_device.h,
// fs/dlm/user.c), x86_64 layout with is64bit = 1, little-endian. Offsets
// were checked against the 6.1 kernel's bytes (docs/dlm-userapi.md).

// Interface version written in every request and echoed in every result.
// The kernel checks major == 6 and minor <= 0.
const (
	versionMajor = 6
	versionMinor = 0
	versionPatch = 2
)

// Commands (cmd byte at offset 12).
const (
	cmdLock            = 1
	cmdUnlock          = 2
	cmdCreateLockspace = 4
	cmdRemoveLockspace = 5
)

// Lock flags (DLM_LKF_*, include/uapi/linux/dlmconstants.h).
const (
	lkfNoQueue     = 0x1
	lkfCancel      = 0x2
	lkfConvert     = 0x4
	lkfValBlk      = 0x8
	lkfNoQueueBast = 0x800
)

// Lockspace flags for REMOVE_LOCKSPACE.
const lsflgForceFree = 2

// Status values in a result's lksb (negative errno, or DLM's own).
const (
	statusGranted = 0
	statusAgain   = -11    // -EAGAIN: NOQUEUE request not grantable
	statusDeadlk  = -35    // -EDEADLK: conversion deadlock victim
	statusCancel  = -65537 // -DLM_ECANCEL
	statusUnlock  = -65538 // -DLM_EUNLOCK
)

// Result flags (lksb.sb_flags).
const (
	sbfDemoted     = 1
	sbfValNotValid = 2
)

// Sizes.
const (
	requestLen    = 120 // struct dlm_write_request, name excluded
	resultLen     = 72  // struct dlm_lock_result
	resultLVBLen  = resultLen + dlm.LVBLen
	readBufLen    = 128 // ≥ 104: the kernel writes a full result whatever the count
	maxNameLen    = 64  // DLM_RESNAME_MAXLEN
	lockspaceLen  = 64  // DLM_LOCKSPACE_LEN
	lspaceNameOff = 24
)

var (
	errShortResult = errors.New("kerneldlm: result shorter than 72 bytes")
	errBadVersion  = errors.New("kerneldlm: unexpected interface version")
	errBadLength   = errors.New("kerneldlm: result length field does not match")
)

// lockRequest is struct dlm_lock_params plus the resource name.
type lockRequest struct {
	cmd       byte // cmdLock or cmdUnlock
	mode      dlm.Mode
	flags     uint32
	lkid      uint32
	castParam uint64
	castAddr  uint64
	bastParam uint64
	bastAddr  uint64
	lksb      uint64
	lvb       [dlm.LVBLen]byte
	name      string
}

// MarshalBinary encodes the request: 120 bytes followed by the name. The
// kernel rejects a name over 64 bytes and a castaddr or lksb of zero.
func (r *lockRequest) MarshalBinary() ([]byte, error) {
	if len(r.name) > maxNameLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", dlm.ErrInvalidResource, len(r.name), maxNameLen)
	}
	b := make([]byte, requestLen+len(r.name))
	putHeader(b, r.cmd)
	b[16] = byte(r.mode)
	b[17] = byte(len(r.name))
	le := binary.LittleEndian
	le.PutUint32(b[20:], r.flags)
	le.PutUint32(b[24:], r.lkid)
	// parent @28, xid @32, timeout @40: zero.
	le.PutUint64(b[48:], r.castParam)
	le.PutUint64(b[56:], r.castAddr)
	le.PutUint64(b[64:], r.bastParam)
	le.PutUint64(b[72:], r.bastAddr)
	le.PutUint64(b[80:], r.lksb)
	copy(b[88:120], r.lvb[:])
	copy(b[120:], r.name)
	return b, nil
}

// lspaceRequest is struct dlm_lspace_params (create or remove).
type lspaceRequest struct {
	cmd   byte
	flags uint32
	minor uint32
	name  string
}

// MarshalBinary encodes the request in 120 bytes, the name NUL-padded at 24.
func (r *lspaceRequest) MarshalBinary() ([]byte, error) {
	if r.name == "" || len(r.name) >= requestLen-lspaceNameOff || len(r.name) > lockspaceLen {
		return nil, fmt.Errorf("kerneldlm: lockspace name %q: 1 to %d bytes", r.name, lockspaceLen)
	}
	b := make([]byte, requestLen)
	putHeader(b, r.cmd)
	binary.LittleEndian.PutUint32(b[16:], r.flags)
	binary.LittleEndian.PutUint32(b[20:], r.minor)
	copy(b[lspaceNameOff:], r.name)
	return b, nil
}

func putHeader(b []byte, cmd byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], versionMajor)
	le.PutUint32(b[4:], versionMinor)
	le.PutUint32(b[8:], versionPatch)
	b[12] = cmd
	b[13] = 1 // is64bit
}

// lockResult is struct dlm_lock_result, with the LVB when one follows.
type lockResult struct {
	length    uint32
	astAddr   uint64 // castaddr for a completion, bastaddr for a blocking notice
	astParam  uint64
	lksb      uint64
	status    int32
	lkid      uint32
	sbFlags   uint8
	bastMode  dlm.Mode
	lvbOffset uint32
	lvb       []byte // nil unless lvbOffset != 0
}

// UnmarshalBinary decodes one result as read from a lockspace device:
// length and version first, then fields at fixed offsets.
func (r *lockResult) UnmarshalBinary(b []byte) error {
	if len(b) < resultLen {
		return fmt.Errorf("%w: %d", errShortResult, len(b))
	}
	le := binary.LittleEndian
	if v := [3]uint32{le.Uint32(b[0:]), le.Uint32(b[4:]), le.Uint32(b[8:])}; v[0] != versionMajor {
		return fmt.Errorf("%w: %d.%d.%d", errBadVersion, v[0], v[1], v[2])
	}
	*r = lockResult{
		length:    le.Uint32(b[12:]),
		astAddr:   le.Uint64(b[16:]),
		astParam:  le.Uint64(b[24:]),
		lksb:      le.Uint64(b[32:]),
		status:    int32(le.Uint32(b[40:])),
		lkid:      le.Uint32(b[44:]),
		sbFlags:   b[48],
		bastMode:  dlm.Mode(b[64]),
		lvbOffset: le.Uint32(b[68:]),
	}
	switch {
	case r.lvbOffset == 0 && r.length != resultLen:
		return fmt.Errorf("%w: length %d without an LVB", errBadLength, r.length)
	case r.lvbOffset != 0:
		end := int(r.lvbOffset) + dlm.LVBLen
		if r.lvbOffset < resultLen || int(r.length) != end || len(b) < end {
			return fmt.Errorf("%w: length %d, lvb offset %d, read %d", errBadLength, r.length, r.lvbOffset, len(b))
		}
		r.lvb = append([]byte{}, b[r.lvbOffset:end]...)
	}
	return nil
}

// statusErr maps a completion status to a Go error (nil when granted).
func statusErr(status int32) error {
	switch status {
	case statusGranted:
		return nil
	case statusAgain:
		return dlm.ErrWouldBlock
	case statusDeadlk:
		return dlm.ErrDeadlock
	case statusCancel:
		return dlm.ErrCanceled
	case statusUnlock:
		return nil
	}
	return fmt.Errorf("kerneldlm: lock status %d", status)
}
