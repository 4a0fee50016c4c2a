package vmlab

import (
	"fmt"
	"net/url"
	"strconv"

	"mdcluster.dev/dlm/etcdembed"
)

// HostEtcd is the labs' lock service: one etcd member on the host's loopback, which the guests
// reach at 10.0.2.2:Port() through QEMU user networking. It runs on the host so that a guest
// crash never takes it down and its lease expiry is timed by the host's clock (the one the
// scenarios and the fault campaign order events on), and so that a lab can stop it and start it
// again, on the same data and ports, to fault it.
type HostEtcd struct {
	dir  string
	urls []string
	port int
	m    *etcdembed.Member
}

// StartHostEtcd starts a member with its data in dir.
func StartHostEtcd(dir string) (*HostEtcd, error) {
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(urls[0])
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("vmlab: etcd url %s: %w", urls[0], err)
	}
	e := &HostEtcd{dir: dir, urls: urls, port: port}
	return e, e.Start()
}

// Port is the member's client port on the host's loopback.
func (e *HostEtcd) Port() int { return e.port }

// Start starts the member (again, after Stop).
func (e *HostEtcd) Start() error {
	m, err := etcdembed.Start(e.dir, etcdembed.WithClientURLs(e.urls[0]), etcdembed.WithPeerURLs(e.urls[1]),
		etcdembed.WithLogLevel("panic")) // closing it logs its listeners as errors
	if err != nil {
		return fmt.Errorf("vmlab: start etcd: %w", err)
	}
	e.m = m
	return nil
}

// Stop stops the member; Start brings it back with its data.
func (e *HostEtcd) Stop() {
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
}
