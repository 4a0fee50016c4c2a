package workload

import (
	"context"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"mdcluster.dev/internal/faults/wire"
)

// write is one writer: blocks to slot seq mod Blocks of the node's region, one at a time. Each
// write is announced (issue) before it is submitted and reported (ack or werr) after md answered.
func (w *workload) write(ctx context.Context, t Target) {
	buf := alignedBlock()
	var f *os.File
	var fdev string
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for seq := int64(0); ; {
		round, ok := w.enter(ctx)
		if !ok {
			return
		}
		dev := w.md.writable(t.UUID)
		if dev == "" {
			w.leave()
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		if f != nil && fdev != dev {
			f.Close()
			f = nil
		}
		wr := wire.Write{Array: t.Tag, Node: w.c.Node, Round: round, Epoch: w.c.Epoch, Seq: seq, Slot: int(seq % int64(t.Blocks))}
		seq++
		wr.Encode(buf)
		w.out.send(wire.Msg{Kind: wire.KindIssue, W: &wr})
		var err error
		if f == nil {
			f, err = os.OpenFile("/dev/"+dev, os.O_WRONLY|unix.O_DIRECT, 0)
			fdev = dev
		}
		if err == nil {
			_, err = f.WriteAt(buf, t.Offset+int64(wr.Slot)*wire.BlockSize)
		}
		if err != nil {
			if f != nil {
				f.Close()
				f = nil
			}
			w.out.send(wire.Msg{Kind: wire.KindWErr, W: &wr, Err: err.Error()})
			w.leave()
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if !w.c.Hold {
			// Closed at once, as a short-lived user would: the array can be stopped between writes.
			f.Close()
			f = nil
		}
		w.out.send(wire.Msg{Kind: wire.KindAck, W: &wr})
		w.leave()
		sleep(ctx, w.c.Interval)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// alignedBlock returns a BlockSize buffer aligned for O_DIRECT.
func alignedBlock() []byte { return alignedBuf(wire.BlockSize) }

func alignedBuf(n int) []byte {
	b := make([]byte, n+wire.BlockSize)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (wire.BlockSize - 1))
	if off != 0 {
		off = wire.BlockSize - off
	}
	return b[off : off+n]
}
