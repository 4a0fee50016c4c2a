package bitmap

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Device is a member device or image file opened for reading md metadata.
type Device struct {
	*os.File
	Size  int64  // bytes
	Block bool   // a block device
	Rdev  uint64 // its device number (block devices)
}

// Open opens name read-only: a block device or a regular file (an image).
// For a block device it drops the pages an earlier reader cached, since md
// writes superblocks and bitmaps around the page cache (mdadm reads them
// with O_DIRECT).
func Open(name string) (*Device, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &Device{File: f}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && IsBlock(fi) {
		d.Block, d.Rdev = true, uint64(st.Rdev)
		dropCache(f)
	}
	if d.Size, err = f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("size of %s: %w", name, err)
	}
	return d, nil
}

// Reader returns a Reader of the whole device.
func (d *Device) Reader() *Reader { return NewReader(d.File, d.Size) }

// IsBlock reports whether fi is a block device.
func IsBlock(fi os.FileInfo) bool {
	return fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
}
