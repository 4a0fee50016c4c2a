package etcdembed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSingleMember(t *testing.T) {
	urls, err := FreeURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(t.TempDir(), WithClientURLs(urls[0]), WithPeerURLs(urls[1]), WithLogLevel("panic"), WithAutoCompaction("1h"))
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
	if _, err := NewClient(ClientConfig{}); err == nil {
		t.Error("no endpoints accepted")
	}
	if _, err := NewClient(ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("missing CA file accepted")
	}
}

// A CA, a client certificate and its key on disk give an mTLS config.
func TestClientTLSConfig(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mdcluster-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := ClientConfig{Endpoints: []string{"https://127.0.0.1:2379"},
		CAFile: write("ca.pem", "CERTIFICATE", der), CertFile: write("cert.pem", "CERTIFICATE", der), KeyFile: write("key.pem", "EC PRIVATE KEY", kder)}
	tc, err := tlsConfig(cfg)
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
