//go:build !linux

package md

import (
	"fmt"
	"runtime"
	"unsafe"
)

// errUnimplemented is what the device code returns off Linux.
var errUnimplemented = fmt.Errorf("md: not implemented on %s/%s", runtime.GOOS, runtime.GOARCH)

// Device is an open md block device; md exists only on Linux, so here every call fails.
type Device struct {
	path string
}

// OpenDevice returns an error naming the platform: md is Linux-only.
func OpenDevice(path string) (*Device, error) { return nil, errUnimplemented }

// Close does nothing.
func (d *Device) Close() error { return nil }

func (d *Device) ioctlPtr(req uint, p unsafe.Pointer) error { return errUnimplemented }

func (d *Device) ioctlArg(req uint, arg uintptr) error { return errUnimplemented }
