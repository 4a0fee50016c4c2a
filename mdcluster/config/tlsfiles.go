package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// checkTLSFiles reads the TLS files the lock engine will use: they parse, the key matches the
// certificate, both are valid now; a certificate this node's member serves with must chain to
// the CA (the other members verify it with the same CA) and name the host of the URL it serves.
func (e *LockEngine) checkTLSFiles() error {
	now := time.Now()
	if t, ok := e.ClientTLSFiles(); ok {
		f := tlsFiles{key: "lock_engine.tls", TLS: t}
		if e.Type != EngineExternal {
			f.serves, f.url = "lock_engine.client_url", e.ClientURL
		}
		if err := f.check(now); err != nil {
			return err
		}
	}
	if t, ok := e.PeerTLSFiles(); ok {
		f := tlsFiles{key: "lock_engine.peer_tls", TLS: t, serves: "lock_engine.peer_url", url: e.PeerURL}
		if e.PeerTLS.IsZero() {
			f.key = "lock_engine.tls"
		}
		if err := f.check(now); err != nil {
			return err
		}
	}
	return nil
}

type tlsFiles struct {
	TLS
	key string // the section: lock_engine.tls or lock_engine.peer_tls
	// serves names the URL key the certificate serves, "" for a client only (an external etcd,
	// whose servers may have their own CA).
	serves, url string
}

func (f tlsFiles) check(now time.Time) error {
	cas, err := readCerts(f.CA)
	if err != nil {
		return keyErr(f.key+".ca", f.CA, err.Error())
	}
	roots := x509.NewCertPool()
	for _, ca := range cas {
		if err := validAt(ca, now); err != nil {
			return keyErr(f.key+".ca", f.CA, err.Error())
		}
		roots.AddCert(ca)
	}
	chain, err := readCerts(f.Cert)
	if err != nil {
		return keyErr(f.key+".cert", f.Cert, err.Error())
	}
	leaf := chain[0]
	if err := validAt(leaf, now); err != nil {
		return keyErr(f.key+".cert", f.Cert, err.Error())
	}
	keyPEM, err := readFile(f.Key)
	if err != nil {
		return keyErr(f.key+".key", f.Key, err.Error())
	}
	if fi, err := os.Stat(f.Key); err == nil && fi.Mode().Perm()&0o004 != 0 {
		return keyErr(f.key+".key", f.Key, fmt.Sprintf("readable by every user (mode %04o): want 0600", fi.Mode().Perm()))
	}
	certPEM, _ := readFile(f.Cert)
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		if pem, _ := pem.Decode(keyPEM); pem == nil {
			return keyErr(f.key+".key", f.Key, "no PEM private key")
		}
		return keyErr(f.key+".key", f.Key, "does not match "+f.key+".cert ("+oneLine(err.Error())+")")
	}
	// The agent's client and this member's peer client present it: it must allow client use.
	if !allowsUsage(leaf, x509.ExtKeyUsageClientAuth) {
		return keyErr(f.key+".cert", f.Cert, "not valid for TLS client use (extended key usage): mutual TLS presents it as a client")
	}
	if f.serves == "" {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return keyErr(f.key+".cert", f.Cert, "not issued by "+f.key+".ca (the other members verify it with the same CA)")
		}
		return keyErr(f.key+".cert", f.Cert, oneLine(err.Error()))
	}
	if host := hostname(f.url); leaf.VerifyHostname(host) != nil {
		return keyErr(f.key+".cert", f.Cert, fmt.Sprintf("does not name %s (the host of %s): `mdclusterd tls issue` names it", host, f.serves))
	}
	return nil
}

// readCerts reads a PEM file's certificates, in order.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

func validAt(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("not valid before %s (is this clock right?)", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func allowsUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 {
		return true
	}
	for _, k := range c.ExtKeyUsage {
		if k == u || k == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}
