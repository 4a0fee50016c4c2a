//go:build linux

package md

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Device is an open md block device (/dev/mdN) for the md ioctls. Its methods are safe for
// concurrent use; Close releases it.
type Device struct {
	path string
	f    *os.File
}

// OpenDevice opens an md block device read-write, as mdadm does, without taking it exclusively.
func OpenDevice(path string) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("md: open %w", err)
	}
	return &Device{path: path, f: f}, nil
}

// Close closes the device.
func (d *Device) Close() error { return d.f.Close() }

// ioctlPtr runs an ioctl whose argument points to p. The conversion to uintptr stays in the
// Syscall expression, so p stays valid for the call.
func (d *Device) ioctlPtr(req uint, p unsafe.Pointer) error {
	return d.control(func(fd uintptr) unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(p))
		return e
	})
}

// ioctlArg runs an ioctl with a plain integer argument.
func (d *Device) ioctlArg(req uint, arg uintptr) error {
	return d.control(func(fd uintptr) unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), arg)
		return e
	})
}

// control runs fn with the device's fd under RawConn.Control, so a concurrent Close cannot
// reuse the descriptor, and returns its errno as an error.
func (d *Device) control(fn func(fd uintptr) unix.Errno) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) { errno = fn(fd) }); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
