package scenario

import (
	"context"
	"fmt"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// SharedDiskOptions is the lab SharedDirectIO needs: two guests, one shared disk.
var SharedDiskOptions = vmlab.Options{Nodes: 2, Disks: 1}

// SharedDirectIO checks the private network (each guest pings the other) and that each guest
// reads, with O_DIRECT, what the other wrote to the shared disk.
func SharedDirectIO(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		peer := 3 - n
		if _, err := step(ctx, l, n, quick, fmt.Sprintf("ping node%d on the private network", peer),
			fmt.Sprintf("for i in $(seq 1 40); do ping -c1 -W1 192.168.100.%d >/dev/null && exit 0; sleep 0.5; done; exit 1", peer)); err != nil {
			return err
		}
	}
	stamp := fmt.Sprintf("node1-%d", time.Now().UnixNano())
	if err := odWrite(ctx, l, 1, "/dev/vda", 0, stamp); err != nil {
		return err
	}
	if err := odRead(ctx, l, 2, "/dev/vda", 0, stamp); err != nil {
		return err
	}
	if err := odWrite(ctx, l, 2, "/dev/vda", 4096, "node2-reply-to-"+stamp); err != nil {
		return err
	}
	if err := odRead(ctx, l, 1, "/dev/vda", 4096, "node2-reply-to-"+stamp); err != nil {
		return err
	}
	// Overwrite in place: the reader must see the new bytes, not a cached copy.
	if err := odWrite(ctx, l, 1, "/dev/vda", 0, "overwritten-"+stamp); err != nil {
		return err
	}
	return odRead(ctx, l, 2, "/dev/vda", 0, "overwritten-"+stamp)
}
