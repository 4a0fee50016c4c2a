package metrics

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// readSlots reads every record in the kernel log at path (/dev/kmsg) and returns the latest
// join slot of each array. The descriptor is raw and non-blocking, so the read ends with
// EAGAIN at the newest record; an *os.File would park in the poller there instead.
func readSlots(path string) (map[string]int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("kernel log: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var all bytes.Buffer
	buf := make([]byte, 8192) // one /dev/kmsg record per read; records are shorter than 8 KiB
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EPIPE): // records overwritten while reading: go on
			continue
		case errors.Is(err, unix.EAGAIN):
			return parseSlots(&all), nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, fmt.Errorf("kernel log: read %s: %w", path, err)
		case n == 0: // end of a regular file (tests)
			return parseSlots(&all), nil
		}
		all.Write(buf[:n])
	}
}
