package etcdembed

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests. It waits up to 10 s for them: after a
// TLS cluster stops, etcd's peer connections end only when their read times out (rafthttp's
// 5 s ConnReadTimeout, which its timeoutConn sets again at every read and so overrides the
// deadline net/http sets to abort it).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if err = goleak.Find(); err == nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestSingleMember(t *testing.T) {
	urls, err := FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(t.TempDir(), WithClientURLs(urls[0]), WithPeerURLs(urls[1]), WithLogLevel("panic"), WithAutoCompaction(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Name() != "default" || len(m.ClientURLs()) != 1 || m.ClientURLs()[0] != urls[0] {
		t.Fatalf("member %q urls %v", m.Name(), m.ClientURLs())
	}
	cli, err := NewClient(ClientConfig{Endpoints: m.ClientURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := WaitLeader(ctx, cli); err != nil {
		t.Fatal(err)
	}
	if !m.HasLeader() {
		t.Fatal("single member without a leader")
	}
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestNewClientErrors(t *testing.T) {
	f := writeTLS(t, t.TempDir(), "n1")
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"no endpoints", ClientConfig{}, "no endpoints"},
		{"missing CA file", ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.pem"}, "client tls"},
		{"https without CA", ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}}, "need a CA file"},
		{"mixed schemes", ClientConfig{Endpoints: []string{"https://127.0.0.1:1", "http://127.0.0.1:2"}, CAFile: f.CA}, "mix http and https"},
		{"TLS files for http", ClientConfig{Endpoints: []string{"http://127.0.0.1:1"}, CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key}, "not https"},
		{"cert without key", ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: f.CA, CertFile: f.Cert}, "go together"},
	} {
		if _, err := NewClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// Start refuses https URLs without TLS files and TLS files for http URLs (etcd would drop them
// with a warning), before it starts anything.
func TestStartTLSMismatch(t *testing.T) {
	f := writeTLS(t, t.TempDir(), "n1")
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"https client without TLS", []Option{WithClientURLs("https://127.0.0.1:1")}, "client URL https://127.0.0.1:1 is https"},
		{"TLS for http peers", []Option{WithPeerTLS(f)}, "peer URL http://127.0.0.1:2380 is not https"},
		{"half the files", []Option{WithClientURLs("https://127.0.0.1:1"), WithTLS(TLSFiles{CA: f.CA})}, "needs CA, certificate and key"},
		{"log level", []Option{WithLogLevel("loud")}, "log level"},
	} {
		if _, err := Start(t.TempDir(), tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// A CA, a client certificate and its key on disk give an mTLS config.
func TestClientTLSConfig(t *testing.T) {
	f := writeTLS(t, t.TempDir(), "n1")
	tc, err := tlsConfig(ClientConfig{Endpoints: []string{"https://127.0.0.1:2379"}, CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs == nil || tc.GetClientCertificate == nil {
		t.Fatalf("tls config: roots %v, client certificate callback %v", tc.RootCAs != nil, tc.GetClientCertificate != nil)
	}
	cert, err := tc.GetClientCertificate(nil)
	if err != nil || len(cert.Certificate) != 1 {
		t.Fatalf("client certificate: %v (%d certs)", err, len(cert.Certificate))
	}
}
