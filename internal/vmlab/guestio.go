package vmlab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BlockSize is the unit of the O_DIRECT helpers.
const BlockSize = 4096

// alignedBlock returns a BlockSize buffer aligned for O_DIRECT.
func alignedBlock() []byte {
	b := make([]byte, 2*BlockSize)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (BlockSize - 1))
	if off != 0 {
		off = BlockSize - off
	}
	return b[off : off+BlockSize]
}

// DirectWrite writes text, zero-padded to one block, at offset of dev with O_DIRECT, bypassing
// the page cache so another host sharing the disk sees it.
func DirectWrite(dev string, offset int64, text string) error {
	if len(text) > BlockSize {
		return fmt.Errorf("odwrite: text is %d bytes, more than one %d-byte block", len(text), BlockSize)
	}
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return fmt.Errorf("odwrite: %w", err)
	}
	defer f.Close()
	buf := alignedBlock()
	copy(buf, text)
	if _, err := f.WriteAt(buf, offset); err != nil {
		return fmt.Errorf("odwrite %s at %d: %w", dev, offset, err)
	}
	return nil
}

// DirectRead reads one block at offset of dev with O_DIRECT and returns it up to its first NUL.
func DirectRead(dev string, offset int64) (string, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return "", fmt.Errorf("odread: %w", err)
	}
	defer f.Close()
	buf := alignedBlock()
	if _, err := f.ReadAt(buf, offset); err != nil {
		return "", fmt.Errorf("odread %s at %d: %w", dev, offset, err)
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf), nil
}

// WriteDLMAddr writes a 128-byte struct sockaddr_storage {AF_INET, port 0, ip} to a configfs
// comms/<id>/addr file in one write, as the kernel DLM requires. The port must be 0: lowcomms
// compares it with the zeroed port of accepted peers and would reject every inbound connection.
func WriteDLMAddr(path, ip string) error {
	v4 := net.ParseIP(ip).To4()
	if v4 == nil {
		return fmt.Errorf("dlmaddr: %q is not an IPv4 address", ip)
	}
	buf := make([]byte, 128)
	binary.LittleEndian.PutUint16(buf[0:], unix.AF_INET)
	copy(buf[4:8], v4)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("dlmaddr: %w", err)
	}
	n, err := f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != len(buf) {
		return fmt.Errorf("dlmaddr: write %s: %d of 128 bytes: %v", path, n, err)
	}
	return nil
}
