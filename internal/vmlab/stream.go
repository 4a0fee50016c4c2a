package vmlab

import (
	"bufio"
	"io"
	"time"
)

// StreamPortName is the second virtio-serial port: a one-way stream of lines from the guest to
// the host, for guest programs that must report to the host as things happen (a writer's
// acknowledged writes, md samples). It is separate from the control port, so a flood of reports
// never delays a request's reply, and a guest program writes to it directly: once its write()
// returned, QEMU has the line and a crash of the guest can no longer lose it.
const StreamPortName = "mdlab.stream"

// StreamFunc receives every line a guest writes to its stream port, with the host time it was
// read (one clock for every guest) and the guest's boot (1 for its first start in the lab, then
// one more for each Restart), so lines an exited guest left in the socket are not taken for its
// successor's. It runs on the port's reader goroutine: it must not block.
type StreamFunc func(node, boot int, at time.Time, line []byte)

// readStream delivers r's lines to fn until r ends (QEMU exited and the socket drained).
func readStream(node, boot int, r io.ReadCloser, fn StreamFunc) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(node, boot, time.Now(), sc.Bytes())
	}
}
