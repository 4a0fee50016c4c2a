package bitmap

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them,
// so callers can test with errors.Is.
var (
	// ErrTruncated reports a buffer or device too short for the structure.
	ErrTruncated = errors.New("bitmap: truncated")
	// ErrBadMagic reports a magic number that does not match.
	ErrBadMagic = errors.New("bitmap: bad magic")
	// ErrUnsupportedVersion reports a superblock or bitmap version this
	// package does not understand.
	ErrUnsupportedVersion = errors.New("bitmap: unsupported version")
	// ErrLocklessBitmap reports a version 6 ("lockless", llbitmap) bitmap,
	// whose layout differs from versions 3 to 5 and is not read here.
	ErrLocklessBitmap = errors.New("bitmap: lockless bitmap (version 6) not supported")
	// ErrInvalidField reports a field whose value is out of range.
	ErrInvalidField = errors.New("bitmap: invalid field")
	// ErrOutOfBounds reports an offset or size that points past the device.
	ErrOutOfBounds = errors.New("bitmap: out of device bounds")
	// ErrNoBitmap reports a superblock without an internal bitmap.
	ErrNoBitmap = errors.New("bitmap: no internal bitmap")
	// ErrNoSuperblock reports that no v1.x superblock was found.
	ErrNoSuperblock = errors.New("bitmap: no md v1 superblock found")
)

// FieldError describes a bad field of an on-disk structure. It wraps one of
// the sentinel errors (Err).
type FieldError struct {
	Struct string // "superblock" or "bitmap superblock"
	Field  string // the C field name, e.g. "chunksize"
	Offset int    // byte offset of the field inside Struct
	Value  any    // the offending value (nil when there is none)
	Reason string // what is wrong, e.g. "is not a power of two"
	Err    error  // sentinel, e.g. ErrInvalidField
}

// Error formats as
// "bitmap: superblock field chunksize at offset 52: value 0 is not a power of two".
func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("bitmap: %s field %s at offset %d: %s", e.Struct, e.Field, e.Offset, e.Reason)
	}
	return fmt.Sprintf("bitmap: %s field %s at offset %d: value %v %s", e.Struct, e.Field, e.Offset, e.Value, e.Reason)
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

// hex32 prints a 32-bit value such as a magic number in hex.
type hex32 uint32

func (h hex32) String() string { return fmt.Sprintf("%#08x", uint32(h)) }

func fieldErr(st, field string, off int, val any, err error, reason string) *FieldError {
	return &FieldError{Struct: st, Field: field, Offset: off, Value: val, Reason: reason, Err: err}
}
