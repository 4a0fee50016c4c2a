package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A CA saved and loaded again issues a node certificate that verifies against it for server and
// client use, names the node's hosts and the loopback, and matches its key.
func TestIssueAndVerify(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("mdlab CA", CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(filepath.Join(dir, "ca")); err != nil {
		t.Fatal(err)
	}
	ca, err = LoadCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.Issue("node1", []string{"192.168.100.1", "node1.example"}, time.Time{}, NodeValidity)
	if err != nil {
		t.Fatal(err)
	}
	nd := filepath.Join(dir, "node1")
	if err := n.Save(nd, ca); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(nd, NodeCert), filepath.Join(nd, NodeKey))
	if err != nil {
		t.Fatalf("node certificate and key: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(nd, CACert))
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("node directory's ca.crt does not parse")
	}
	for _, host := range []string{"192.168.100.1", "node1.example", "node1", "127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("192.168.100.2"); err == nil {
		t.Error("certificate covers another node's address")
	}
	for name, want := range map[string]os.FileMode{"ca/" + CAKey: 0o600, "ca/" + CACert: 0o644, "node1/" + NodeKey: 0o600, "node1/" + NodeCert: 0o644} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(nd, CAKey)); err == nil {
		t.Error("the CA key was copied to the node directory")
	}
}

// Nothing is overwritten, and nothing is written when one of the files exists.
func TestNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("c", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second save: %v", err)
	}
	n, err := ca.Issue("n", nil, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nd := t.TempDir()
	os.WriteFile(filepath.Join(nd, NodeKey), []byte("old"), 0o600)
	if err := n.Save(nd, ca); err == nil {
		t.Fatal("node key overwritten")
	}
	if _, err := os.Stat(filepath.Join(nd, NodeCert)); err == nil {
		t.Error("node.crt written although node.key existed")
	}
	if b, _ := os.ReadFile(filepath.Join(nd, NodeKey)); string(b) != "old" {
		t.Error("node.key changed")
	}
}

func TestLoadCAErrors(t *testing.T) {
	if _, err := LoadCA(t.TempDir()); err == nil {
		t.Error("empty directory loads as a CA")
	}
	ca, _ := NewCA("c", time.Hour)
	n, _ := ca.Issue("n", nil, time.Time{}, time.Hour)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CACert), n.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, CAKey), n.KeyPEM, 0o600)
	if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("a node certificate loads as a CA: %v", err)
	}
	if _, err := ca.Issue("", nil, time.Time{}, time.Hour); err == nil {
		t.Error("a certificate without a name")
	}
}
