package scenario

import (
	"context"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ClusteredRAID1Options is the lab ClusteredRAID1 needs: two guests with user networking (for
// the etcd on the host), two shared disks.
var ClusteredRAID1Options = ControldOptions

// ClusteredRAID1 runs md-cluster RAID1 on two guests whose kernel DLM is driven by mdclusterd
// (no corosync, no dlm_controld), with its own etcd on the host; see ControldRAID1.
func ClusteredRAID1(ctx context.Context, l *vmlab.Lab) error {
	port, stop, err := HostEtcd()
	if err != nil {
		return err
	}
	defer stop()
	_, err = ControldRAID1(ctx, l, port, 8*time.Second, 3*time.Second)
	return err
}
