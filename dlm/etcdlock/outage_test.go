package etcdlock

import (
	"context"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
)

// A session whose etcd was down for 18 s (TTL 30 s) renews within moments of etcd's return:
// the renewal in flight must not wait out gRPC's reconnect backoff, which had grown to 10-20 s
// and let the session reach its fence point although etcd was back in time (seen in the VM
// suite's EtcdOutage; the client now retries its connection every second, etcdembed.NewClient).
// The 5 s bound is five times that retry, not a performance figure.
func TestSessionRenewsAfterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("an 18 s outage")
	}
	urls, _ := etcdembed.FreeURLs(2)
	dir := t.TempDir()
	start := func() *etcdembed.Member {
		m, err := etcdembed.Start(dir, etcdembed.WithClientURLs(urls[0]), etcdembed.WithPeerURLs(urls[1]), etcdembed.WithLogLevel("panic"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := start()
	cli, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: []string{urls[0]}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := New(cli).Open(context.Background(), dlm.WithTTL(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	d0 := s.Deadline()
	time.Sleep(18 * time.Second)
	m = start()
	defer m.Close()
	t0 := time.Now()
	for !s.Deadline().After(d0) {
		if time.Since(t0) > 5*time.Second {
			t.Fatal("no renewal 5 s after etcd's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
