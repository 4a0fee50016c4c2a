// Package wire is what the fault campaign's guest programs and its host agree on: the blocks the
// workload writes (every 512-byte sector says which write it belongs to, so a torn write is told
// apart from a lost one) and the lines a guest streams to the host.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
)

// BlockSize is the unit of the workload's O_DIRECT writes; SectorSize the unit a device may tear
// a write at.
const (
	BlockSize  = 4096
	SectorSize = 512
	headerLen  = 64
)

// Write names one block write: who wrote it, when in the campaign, and where in its region.
// (Epoch, Seq) orders a writer's writes: the epoch counts the writer processes the host started
// on that node, the sequence number its writes.
type Write struct {
	Array string // array tag: "r10", "r5"
	Node  int
	Round int
	Epoch int
	Seq   int64
	Slot  int // block index in the node's region
}

// Less orders two writes of one node by (Epoch, Seq).
func (w Write) Less(o Write) bool {
	if w.Epoch != o.Epoch {
		return w.Epoch < o.Epoch
	}
	return w.Seq < o.Seq
}

// Key is (Epoch, Seq) as one comparable value.
func (w Write) Key() [2]int64 { return [2]int64{int64(w.Epoch), w.Seq} }

func (w Write) header(sector int) []byte {
	h := fmt.Sprintf("MDF1 a=%s n=%d r=%d e=%d s=%d o=%d x=%d\n", w.Array, w.Node, w.Round, w.Epoch, w.Seq, w.Slot, sector)
	b := make([]byte, headerLen)
	copy(b, h)
	return b
}

// Encode fills a BlockSize buffer with the block of w: each sector a header naming the write
// and the sector, then a pattern derived from that header.
func (w Write) Encode(buf []byte) {
	for x := 0; x < BlockSize/SectorSize; x++ {
		s := buf[x*SectorSize : (x+1)*SectorSize]
		h := w.header(x)
		copy(s, h)
		fill(s[headerLen:], h)
	}
}

// fill writes a xorshift stream seeded by the header's hash: a sector from another write, or
// bytes from nowhere, do not match it.
func fill(b, seed []byte) {
	f := fnv.New64a()
	f.Write(seed)
	x := f.Sum64() | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// ErrCorrupt marks a sector that is neither zero nor a sector some write made.
var ErrCorrupt = errors.New("wire: corrupt sector")

// Decode reads the sectors of one block. It returns the distinct writes found, in sector
// order without repeats; empty reports an all-zero block (never written). A sector that is
// zero in a block that has written sectors, or that does not match its header, is ErrCorrupt.
func Decode(block []byte) (writes []Write, empty bool, err error) {
	if len(block) != BlockSize {
		return nil, false, fmt.Errorf("wire: block of %d bytes", len(block))
	}
	zeros := 0
	for x := 0; x < BlockSize/SectorSize; x++ {
		s := block[x*SectorSize : (x+1)*SectorSize]
		if allZero(s) {
			zeros++
			continue
		}
		w, err := decodeSector(s, x)
		if err != nil {
			return nil, false, fmt.Errorf("sector %d: %w", x, err)
		}
		if len(writes) == 0 || writes[len(writes)-1] != w {
			writes = append(writes, w)
		}
	}
	switch {
	case zeros == BlockSize/SectorSize:
		return nil, true, nil
	case zeros > 0:
		return nil, false, fmt.Errorf("%d zero sector(s) in a written block: %w", zeros, ErrCorrupt)
	}
	return writes, false, nil
}

func decodeSector(s []byte, x int) (Write, error) {
	h := s[:headerLen]
	line, _, ok := bytes.Cut(h, []byte{'\n'})
	var w Write
	var sx int
	if !ok {
		return w, ErrCorrupt
	}
	if _, err := fmt.Sscanf(string(line), "MDF1 a=%s n=%d r=%d e=%d s=%d o=%d x=%d", &w.Array, &w.Node, &w.Round, &w.Epoch, &w.Seq, &w.Slot, &sx); err != nil {
		return w, fmt.Errorf("header %q: %w", line, ErrCorrupt)
	}
	want := make([]byte, SectorSize)
	copy(want, w.header(x))
	fill(want[headerLen:], want[:headerLen])
	if sx != x || !bytes.Equal(want, s) {
		return w, fmt.Errorf("%q does not match its header: %w", line, ErrCorrupt)
	}
	return w, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
