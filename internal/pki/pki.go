// Package pki makes the small certificate authority an mdcluster needs for mutual TLS between
// the agents' etcd members and clients: one CA per cluster and one certificate per node, used
// both to serve (client and peer URLs) and to authenticate as a client. The nodes and the VM lab
// have no openssl, so this is what `mdclusterd tls` runs and what tests and VM scenarios use.
//
// A node's directory holds ca.crt, node.crt and node.key, the file names the example
// configuration uses. The CA's key (ca.key) stays in the CA directory, off the nodes.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names in a CA directory and in a node directory.
const (
	CACert   = "ca.crt"
	CAKey    = "ca.key"
	NodeCert = "node.crt"
	NodeKey  = "node.key"
)

// Default validities. A node certificate that expires stops the node's etcd member and client:
// long lives, with the dates printed at issue and checked by check-config.
const (
	CAValidity   = 20 * 365 * 24 * time.Hour
	NodeValidity = 10 * 365 * 24 * time.Hour
)

// backdate lets a certificate be valid on a node whose clock is behind the issuer's.
const backdate = time.Hour

// CA is a certificate authority in memory.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// NewCA makes a CA named name, valid from an hour ago for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-backdate), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// Save writes the CA to dir (ca.crt 0644, ca.key 0600); it never overwrites a file.
func (ca *CA) Save(dir string) error {
	kpem, err := keyPEM(ca.key)
	if err != nil {
		return err
	}
	return writeNew(dir, []file{{CACert, ca.CertPEM, 0o644}, {CAKey, kpem, 0o600}})
}

// LoadCA reads a CA that Save wrote to dir.
func LoadCA(dir string) (*CA, error) {
	cb, err := os.ReadFile(filepath.Join(dir, CACert))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, CAKey))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	cert, err := parseCert(cb)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", filepath.Join(dir, CACert), err)
	}
	kblk, _ := pem.Decode(kb)
	if kblk == nil || kblk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("pki: %s: no PRIVATE KEY block", filepath.Join(dir, CAKey))
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", filepath.Join(dir, CAKey), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA", dir)
	}
	return &CA{Cert: cert, CertPEM: cb, key: signer}, nil
}

// Node is a node's certificate and key, PEM encoded.
type Node struct {
	Cert            *x509.Certificate
	CertPEM, KeyPEM []byte
}

// Issue signs a certificate for node name, for both TLS server and client use, naming name,
// hosts (IP addresses or DNS names), 127.0.0.1, ::1 and localhost: the agent reaches its own
// etcd member on the loopback. It is valid from notBefore (zero: an hour ago) for validity.
func (ca *CA) Issue(name string, hosts []string, notBefore time.Time, validity time.Duration) (*Node, error) {
	if name == "" {
		return nil, errors.New("pki: a node certificate needs a name")
	}
	notAfter := notBefore.Add(validity)
	if notBefore.IsZero() {
		now := time.Now()
		notBefore, notAfter = now.Add(-backdate), now.Add(validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: node key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{name, "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %s: %w", name, err)
	}
	kpem, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	return &Node{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: kpem}, nil
}

// Save writes the node's directory: ca.crt (this CA), node.crt (0644) and node.key (0600). It
// never overwrites a file.
func (n *Node) Save(dir string, ca *CA) error {
	return writeNew(dir, []file{{CACert, ca.CertPEM, 0o644}, {NodeCert, n.CertPEM, 0o644}, {NodeKey, n.KeyPEM, 0o600}})
}

type file struct {
	name string
	data []byte
	mode os.FileMode
}

// writeNew creates dir (0755) and the files in it, refusing before it writes anything if one
// exists: a CA or key overwritten by mistake cannot be recovered.
func writeNew(dir string, files []file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
			return fmt.Errorf("pki: %s exists; not overwritten", filepath.Join(dir, f.name))
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		_, werr := fh.Write(f.data)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("pki: write %s: %w", p, werr)
		}
	}
	return nil
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	return s, nil
}
