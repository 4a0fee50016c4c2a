package faults

import (
	"fmt"
	"net/url"
	"os"
	"strconv"

	"mdcluster.dev/dlm/etcdembed"
)

// hostEtcd is the campaign's lock service: one etcd member on the host's loopback, reached by
// the guests at 10.0.2.2:port through QEMU user networking. It runs on the host, not in the
// guests, so that the campaign can stop and start it (the etcd-restart fault) without a guest's
// help, a guest crash never takes it down, and lease expiry is timed by one clock — the host's,
// the one the histories use.
type hostEtcd struct {
	dir  string
	urls []string
	port int
	m    *etcdembed.Member
}

func startHostEtcd() (*hostEtcd, error) {
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
		return nil, fmt.Errorf("faults: etcd url %s: %w", urls[0], err)
	}
	dir, err := os.MkdirTemp("", "mdfaults-etcd")
	if err != nil {
		return nil, fmt.Errorf("faults: etcd dir: %w", err)
	}
	e := &hostEtcd{dir: dir, urls: urls, port: port}
	return e, e.start()
}

func (e *hostEtcd) start() error {
	m, err := etcdembed.Start(e.dir, etcdembed.WithClientURLs(e.urls[0]), etcdembed.WithPeerURLs(e.urls[1]),
		etcdembed.WithLogLevel("panic")) // closing it logs its listeners as errors
	if err != nil {
		return fmt.Errorf("faults: start etcd: %w", err)
	}
	e.m = m
	return nil
}

func (e *hostEtcd) stop() {
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
}

func (e *hostEtcd) close() {
	e.stop()
	os.RemoveAll(e.dir)
}
