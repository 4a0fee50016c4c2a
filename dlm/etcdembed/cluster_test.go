package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/internal/pki"
)

var (
	testCAOnce sync.Once
	testCA     *pki.CA
	testCAErr  error
)

// writeTLS writes node name's files (signed by one CA per test binary) into dir/name.
func writeTLS(t *testing.T, dir, name string) TLSFiles {
	t.Helper()
	testCAOnce.Do(func() { testCA, testCAErr = pki.NewCA("etcdembed test CA", time.Hour) })
	if testCAErr != nil {
		t.Fatal(testCAErr)
	}
	n, err := testCA.Issue(name, nil, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(dir, name)
	if err := n.Save(d, testCA); err != nil {
		t.Fatal(err)
	}
	return TLSFiles{CA: filepath.Join(d, pki.CACert), Cert: filepath.Join(d, pki.NodeCert), Key: filepath.Join(d, pki.NodeKey)}
}

// A 3-member cluster on 127.0.0.1 with mutual TLS on its client and peer URLs forms (the
// members authenticate each other), serves a client that presents a certificate of the
// cluster's CA, and refuses, on the same endpoint, one that presents none or one of another CA.
func TestTLSCluster(t *testing.T) {
	dir := t.TempDir()
	urls, err := FreeURLs(6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range urls {
		urls[i] = strings.Replace(urls[i], "http://", "https://", 1)
	}
	names := []string{"n1", "n2", "n3"}
	var ic []string
	for i, n := range names {
		ic = append(ic, n+"="+urls[3+i])
	}
	members := make([]*Member, 3)
	errs := make(chan error, 3)
	t0 := time.Now()
	for i, n := range names {
		f := writeTLS(t, dir, n)
		go func() {
			m, err := Start(filepath.Join(dir, n, "data"), WithName(n), WithClientURLs(urls[i]), WithPeerURLs(urls[3+i]),
				WithInitialCluster(strings.Join(ic, ",")), WithTLS(f), WithPeerTLS(f), WithLogLevel("error"), WithUnsafeNoFsync(),
				WithReadyTimeout(30*time.Second))
			members[i] = m
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	defer func() {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("3 TLS members ready after %v", time.Since(t0).Round(time.Millisecond))
	own := TLSFiles{CA: filepath.Join(dir, "n1", pki.CACert), Cert: filepath.Join(dir, "n1", pki.NodeCert), Key: filepath.Join(dir, "n1", pki.NodeKey)}
	good, err := NewClient(ClientConfig{Endpoints: members[0].ClientURLs(), CAFile: own.CA, CertFile: own.Cert, KeyFile: own.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := WaitLeader(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	// Another CA's certificate, with the cluster's CA to trust the server.
	other, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	on, err := other.Issue("n1", nil, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	od := filepath.Join(dir, "other")
	if err := on.Save(od, other); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"no certificate", ClientConfig{CAFile: own.CA}},
		{"another CA's certificate", ClientConfig{CAFile: own.CA, CertFile: filepath.Join(od, pki.NodeCert), KeyFile: filepath.Join(od, pki.NodeKey)}},
	} {
		tc.cfg.Endpoints = members[0].ClientURLs()
		tc.cfg.DialTimeout = 2 * time.Second
		if err := refused(tc.cfg); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// refused checks that a client with cfg gets no answer from the cluster.
func refused(cfg ClientConfig) error {
	cli, err := NewClient(cfg)
	if err != nil {
		return nil // refused at the handshake already
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "k"); err == nil {
		return errors.New("served")
	}
	return nil
}

// The member compacts its history by default (etcdlock rewrites the same keys); with a short
// retention an old revision is soon gone.
func TestAutoCompaction(t *testing.T) {
	urls, err := FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(t.TempDir(), WithClientURLs(urls[0]), WithPeerURLs(urls[1]), WithLogLevel("error"), WithUnsafeNoFsync())
	if err != nil {
		t.Fatal(err)
	}
	if c := m.etcd.Config(); c.AutoCompactionMode != "periodic" || c.AutoCompactionRetention != DefaultCompaction.String() {
		t.Errorf("default compaction %q %q", c.AutoCompactionMode, c.AutoCompactionRetention)
	}
	m.Close()
	m, err = Start(t.TempDir(), WithClientURLs(urls[0]), WithPeerURLs(urls[1]), WithLogLevel("error"), WithUnsafeNoFsync(),
		WithAutoCompaction(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cli, err := NewClient(ClientConfig{Endpoints: m.ClientURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := cli.Put(ctx, "lock", "1")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; ; i++ {
		if _, err := cli.Put(ctx, "lock", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		_, err := cli.Get(ctx, "lock", clientv3.WithRev(first.Header.Revision))
		if errors.Is(err, rpctypes.ErrCompacted) {
			t.Logf("revision %d compacted after %v", first.Header.Revision, time.Since(t0).Round(time.Millisecond))
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("revision never compacted")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
