package md

import "errors"

// Sentinel errors; the errors returned wrap them with the array, attribute and offending text.
var (
	// ErrParse marks sysfs, mdstat or uevent text that does not have the expected form.
	ErrParse = errors.New("md: malformed kernel text")
	// ErrRead marks a sysfs or procfs file that could not be read.
	ErrRead = errors.New("md: cannot read")
	// ErrWrite marks a sysfs attribute that refused a value.
	ErrWrite = errors.New("md: write refused")
	// ErrNoArray marks an array name without /sys/block/<name>/md.
	ErrNoArray = errors.New("md: no such array")
)
