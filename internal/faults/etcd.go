package faults

import (
	"fmt"
	"os"

	"mdcluster.dev/internal/vmlab"
)

// hostEtcd is the campaign's lock service, the lab's host etcd (vmlab.HostEtcd): the campaign
// stops and starts it (the etcd-restart fault) without a guest's help, a guest crash never takes
// it down, and lease expiry is timed by the host's clock, the one the histories use.
type hostEtcd struct {
	dir  string
	port int
	m    *vmlab.HostEtcd
}

func startHostEtcd() (*hostEtcd, error) {
	dir, err := os.MkdirTemp("", "mdfaults-etcd")
	if err != nil {
		return nil, fmt.Errorf("faults: etcd dir: %w", err)
	}
	m, err := vmlab.StartHostEtcd(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &hostEtcd{dir: dir, port: m.Port(), m: m}, nil
}

func (e *hostEtcd) start() error { return e.m.Start() }

func (e *hostEtcd) stop() { e.m.Stop() }

func (e *hostEtcd) close() {
	e.stop()
	os.RemoveAll(e.dir)
}
