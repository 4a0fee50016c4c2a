package workload

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"mdcluster.dev/internal/faults/wire"
)

// Verify reads blocks blocks of dev from off with O_DIRECT and writes one JSON line per block
// that is not empty to out.
func Verify(dev string, off int64, blocks int, out io.Writer) error {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	const batch = 64
	buf := alignedBuf(batch * wire.BlockSize)
	enc := json.NewEncoder(out)
	for b := 0; b < blocks; b += batch {
		n := min(batch, blocks-b)
		if _, err := f.ReadAt(buf[:n*wire.BlockSize], off+int64(b)*wire.BlockSize); err != nil {
			return fmt.Errorf("verify: read %s at %d: %w", dev, off+int64(b)*wire.BlockSize, err)
		}
		for i := 0; i < n; i++ {
			ws, empty, err := wire.Decode(buf[i*wire.BlockSize : (i+1)*wire.BlockSize])
			if empty {
				continue
			}
			r := wire.BlockResult{Slot: b + i, Writes: ws}
			if err != nil {
				r.Err = err.Error()
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}
