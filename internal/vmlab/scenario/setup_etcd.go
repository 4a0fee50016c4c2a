package scenario

import (
	"fmt"
	"os"

	"mdcluster.dev/internal/vmlab"
)

// HostEtcd starts an etcd member on the host's loopback for the guests and returns its client
// port and a function that stops it.
func HostEtcd() (int, func(), error) {
	dir, err := os.MkdirTemp("", "mdlab-etcd")
	if err != nil {
		return 0, nil, fmt.Errorf("etcd dir: %w", err)
	}
	e, err := vmlab.StartHostEtcd(dir)
	if err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	return e.Port(), func() { e.Stop(); os.RemoveAll(dir) }, nil
}
