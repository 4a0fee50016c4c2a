package scenario

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"mdcluster.dev/dlm/etcdembed"
)

// RestartableEtcd is a one-member etcd on the host's loopback (the guests reach it at
// 10.0.2.2:port) that a scenario can stop and start again on the same data and ports.
type RestartableEtcd struct {
	dir  string
	urls []string
	port int
	m    *etcdembed.Member
}

// NewRestartableEtcd starts a member with its data in dir (the scenarios that stop and restart the lock
// service get it from here).
func NewRestartableEtcd(dir string) (*RestartableEtcd, error) {
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(urls[0])
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(u.Port())
	e := &RestartableEtcd{dir: dir, urls: urls, port: port}
	return e, e.Start()
}

// Start starts the member (again).
func (e *RestartableEtcd) Start() error {
	m, err := etcdembed.Start(e.dir, etcdembed.WithClientURLs(e.urls[0]), etcdembed.WithPeerURLs(e.urls[1]),
		etcdembed.WithLogLevel("panic")) // closing it logs its listeners as errors
	if err != nil {
		return err
	}
	e.m = m
	return nil
}

// Stop stops the member; Start brings it back with its data.
func (e *RestartableEtcd) Stop() {
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
}

// HostEtcd starts an etcd member on the host's loopback for the guests and returns its client
// port and a function that stops it.
func HostEtcd() (int, func(), error) {
	urls, err := etcdembed.FreeURLs(2)
	if err != nil {
		return 0, nil, err
	}
	dir, err := os.MkdirTemp("", "mdlab-etcd")
	if err != nil {
		return 0, nil, fmt.Errorf("etcd dir: %w", err)
	}
	m, err := etcdembed.Start(dir, etcdembed.WithClientURLs(urls[0]), etcdembed.WithPeerURLs(urls[1]),
		etcdembed.WithLogLevel("panic")) // closing it logs its listeners as errors
	if err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	var port int
	if _, err := fmt.Sscanf(urls[0][strings.LastIndexByte(urls[0], ':')+1:], "%d", &port); err != nil {
		m.Close()
		os.RemoveAll(dir)
		return 0, nil, fmt.Errorf("etcd url %s: %w", urls[0], err)
	}
	return port, func() { m.Close(); os.RemoveAll(dir) }, nil
}
