//go:build linux

package kerneldlm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fileDevice is a DLM misc device opened non-blocking, so that reads wait
// in Go's poller and Close wakes them.
type fileDevice struct {
	f *os.File
}

func openDevice(path string) (*fileDevice, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &fileDevice{f: os.NewFile(uintptr(fd), path)}, nil
}

// Write uses write(2) directly: the kernel returns a lock id or a minor,
// not a byte count, which os.File.Write would take for a short write.
func (d *fileDevice) Write(req []byte) (int, error) {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), req)
		return werr != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, fmt.Errorf("write %s: %w", d.f.Name(), werr)
	}
	return n, nil
}

// Read waits for one result; the poller parks on EAGAIN.
func (d *fileDevice) Read(buf []byte) (int, error) {
	if len(buf) < readBufLen {
		return 0, fmt.Errorf("kerneldlm: read buffer of %d bytes, need %d", len(buf), readBufLen)
	}
	rc, err := d.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return rerr != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	return n, rerr
}

func (d *fileDevice) Close() error { return d.f.Close() }

// fsOpener opens devices under a directory (default /dev/misc, libdlm's
// path; /dev also works, devtmpfs creates dlm_<name> there).
type fsOpener struct {
	dir string
}

func (o fsOpener) control() (device, error) {
	return openDevice(filepath.Join(o.dir, "dlm-control"))
}

// lockspace opens dlm_<name>; if there is no node (no devtmpfs, no udev) it
// makes one in a private temporary directory from the minor CREATE returned.
func (o fsOpener) lockspace(name string, minor int) (device, error) {
	d, err := openDevice(filepath.Join(o.dir, "dlm_"+name))
	if err == nil || !errors.Is(err, unix.ENOENT) || minor <= 0 {
		return d, err
	}
	tmp, terr := os.MkdirTemp("", "kerneldlm-")
	if terr != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	node := filepath.Join(tmp, "dlm_"+name)
	if merr := unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(10, uint32(minor)))); merr != nil {
		return nil, fmt.Errorf("%w (mknod 10:%d: %w)", err, minor, merr)
	}
	return openDevice(node)
}
