package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/internal/pki"
)

// writePKI makes a CA and node certificates in dir: dir/node1 (192.168.100.1, the node the
// test configurations describe), dir/node2 (192.168.100.2), dir/expired, dir/future, and
// dir/other (node1's names, signed by another CA). Each directory holds ca.crt, node.crt and
// node.key as `mdclusterd tls issue` writes them.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, n := range []struct {
		dir, name, ip string
		ca            *pki.CA
		from          time.Time
	}{
		{"node1", "node1", "192.168.100.1", ca, time.Time{}},
		{"node2", "node2", "192.168.100.2", ca, time.Time{}},
		{"expired", "node1", "192.168.100.1", ca, now.Add(-2 * time.Hour)},
		{"future", "node1", "192.168.100.1", ca, now.Add(time.Hour)},
		{"other", "node1", "192.168.100.1", other, time.Time{}},
	} {
		c, err := n.ca.Issue(n.name, []string{n.ip}, n.from, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Save(filepath.Join(dir, n.dir), ca); err != nil {
			t.Fatal(err)
		}
	}
}

// writeServerOnly writes a self-signed certificate for 127.0.0.1 usable only to serve, as dir's
// ca.crt, node.crt and node.key.
func writeServerOnly(t *testing.T, dir string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "server only"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.MkdirAll(dir, 0o755)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(dir, "ca.crt"), cert, 0o644)
	os.WriteFile(filepath.Join(dir, "node.crt"), cert, 0o644)
	os.WriteFile(filepath.Join(dir, "node.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// tlsSection names the files of directory d under dir.
func tlsSection(dir, d string) string {
	p := filepath.Join(dir, d)
	return "{ca: " + p + "/ca.crt, cert: " + p + "/node.crt, key: " + p + "/node.key}"
}

const node1 = "node: {name: node1, id: 1, address: 192.168.100.1}\ncluster: {name: mdlab}\n"

func peers3(scheme string) string {
	return "  peers:\n" +
		"    - {name: node1, peer_url: \"" + scheme + "://192.168.100.1:2380\"}\n" +
		"    - {name: node2, peer_url: \"" + scheme + "://192.168.100.2:2380\"}\n" +
		"    - {name: node3, peer_url: \"" + scheme + "://192.168.100.3:2380\"}\n"
}

// Plain http off the loopback is refused unless the file says it is insecure; https needs the
// three files of mutual TLS; a TLS section nothing uses is an error (it was silently dropped).
func TestRuleTLSKeys(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	tlsKey := "  tls: " + tlsSection(dir, "node1") + "\n"
	cluster := func(lines ...string) string {
		return node1 + "lock_engine:\n  type: etcd-cluster\n" + strings.Join(lines, "")
	}
	ext := func(ep string, lines ...string) string {
		return node1 + "lock_engine:\n  type: etcd-external\n  endpoints: [\"" + ep + "\"]\n" + strings.Join(lines, "")
	}
	emb := func(client, peer string, lines ...string) string {
		return node1 + "lock_engine:\n  type: etcd-embedded\n  client_url: " + client + "\n  peer_url: " + peer + "\n" + strings.Join(lines, "")
	}
	runRules(t, []rule{
		{"cluster, mTLS, peer_url from peers", cluster("  client_url: https://127.0.0.1:2379\n", peers3("https"), tlsKey), ""},
		{"cluster, peer_url as in peers", cluster("  client_url: https://127.0.0.1:2379\n  peer_url: https://192.168.100.1:2380\n", peers3("https"), tlsKey), ""},
		{"cluster, peer_url not this node's", cluster("  client_url: https://127.0.0.1:2379\n  peer_url: https://192.168.100.9:2380\n", peers3("https"), tlsKey),
			`lock_engine.peer_url: "https://192.168.100.9:2380": want this node's entry in lock_engine.peers ("https://192.168.100.1:2380")`},
		{"cluster, https without tls", cluster("  client_url: https://127.0.0.1:2379\n", peers3("https")), "lock_engine.tls: lock_engine.client_url is https: want ca, cert and key"},
		{"cluster, https peers without tls", cluster("  client_url: http://127.0.0.1:2379\n", peers3("https")), "lock_engine.peer_tls: lock_engine.peer_url is https: want ca, cert and key"},
		{"cluster, tls for the peers only", cluster("  client_url: http://127.0.0.1:2379\n", peers3("https"), tlsKey), ""},
		{"cluster, separate peer_tls", cluster("  client_url: https://127.0.0.1:2379\n", peers3("https"), tlsKey, "  peer_tls: "+tlsSection(dir, "node1")+"\n"), ""},
		{"cluster, half a tls section", cluster("  client_url: https://127.0.0.1:2379\n", peers3("https"), "  tls: {ca: "+dir+"/node1/ca.crt}\n"), "lock_engine.tls: want ca, cert and key together"},
		{"cluster, http peers", cluster("  client_url: http://127.0.0.1:2379\n", peers3("http")),
			`lock_engine.peer_url: "http://192.168.100.1:2380": plain http off the loopback`},
		{"cluster, http peers, insecure", cluster("  client_url: http://127.0.0.1:2379\n", peers3("http"), "  insecure: true\n"), ""},
		{"cluster, mixed schemes", cluster("  client_url: https://127.0.0.1:2379\n", strings.Replace(peers3("https"), "https://192.168.100.3", "http://192.168.100.3", 1), tlsKey, "  insecure: true\n"),
			`lock_engine.peers[2].peer_url: "http://192.168.100.3:2380": want the scheme of lock_engine.peer_url (https)`},
		{"cluster, peer_tls with http peers", cluster("  client_url: https://127.0.0.1:2379\n", peers3("http"), tlsKey, "  peer_tls: "+tlsSection(dir, "node1")+"\n  insecure: true\n"),
			"lock_engine.peer_tls: set, but lock_engine.peer_url is http"},
		{"embedded, tls with http URLs", emb("http://127.0.0.1:2379", "http://127.0.0.1:2380", tlsKey), "lock_engine.tls: set, but no URL it serves is https"},
		{"embedded, http client off the loopback", emb("http://192.168.100.1:2379", "http://127.0.0.1:2380"), `lock_engine.client_url: "http://192.168.100.1:2379": plain http off the loopback`},
		{"embedded, http on localhost", emb("http://localhost:2379", "http://127.0.0.1:2380"), ""},
		{"embedded, http off the loopback, insecure", emb("http://192.168.100.1:2379", "http://127.0.0.1:2380", "  insecure: true\n"), ""},
		{"embedded, unspecified address", emb("http://127.0.0.1:2379", "http://0.0.0.0:2380"), `lock_engine.peer_url: "http://0.0.0.0:2380": want an address this node has`},
		{"embedded, https", emb("https://127.0.0.1:2379", "https://127.0.0.1:2380", tlsKey), ""},
		{"external, https with tls", ext("https://192.168.100.5:2379", tlsKey), ""},
		{"external, https without tls", ext("https://192.168.100.5:2379"), "lock_engine.tls: lock_engine.endpoints is https: want ca, cert and key"},
		{"external, http with tls", ext("http://127.0.0.1:2379", tlsKey), "lock_engine.tls: set, but lock_engine.endpoints is http: TLS would be ignored"},
		{"external, http off the loopback", ext("http://192.168.100.5:2379"), "lock_engine.endpoints[0]"},
		{"external, http off the loopback, insecure", ext("http://192.168.100.5:2379", "  insecure: true\n"), ""},
		{"external, host name is not loopback", ext("http://etcd1:2379"), "plain http off the loopback"},
		{"external, peer_tls", ext("https://192.168.100.5:2379", tlsKey, "  peer_tls: "+tlsSection(dir, "node1")+"\n"), "lock_engine.peer_tls: only for etcd-embedded and etcd-cluster"},
		{"kernel, tls", node1 + "lock_engine: {type: kernel-dlm, tls: " + tlsSection(dir, "node1") + "}\n", "lock_engine.tls: not used by kernel-dlm"},
	})
}

// check-config reads the certificate files: they parse, the pair matches, they are valid now,
// chain to the CA and name the hosts of the URLs they serve.
func TestRuleTLSFiles(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	writeServerOnly(t, filepath.Join(dir, "serveronly"))
	n1 := filepath.Join(dir, "node1")
	cfg := func(tls string) string {
		return node1 + "lock_engine:\n  type: etcd-cluster\n  client_url: https://127.0.0.1:2379\n" + peers3("https") + "  tls: " + tls + "\n"
	}
	with := func(ca, cert, key string) string {
		return cfg("{ca: " + ca + ", cert: " + cert + ", key: " + key + "}")
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not PEM\n"), 0o644)
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(n1 + "/node.key")
	os.WriteFile(open, b, 0o644)
	os.Chmod(open, 0o644)
	runRules(t, []rule{
		{"good", cfg(tlsSection(dir, "node1")), ""},
		{"missing CA", with(dir+"/none.crt", n1+"/node.crt", n1+"/node.key"), `lock_engine.tls.ca: "` + dir + `/none.crt": no such file or directory`},
		{"CA not PEM", with(garbage, n1+"/node.crt", n1+"/node.key"), "lock_engine.tls.ca: " + `"` + garbage + `": no PEM certificate`},
		{"certificate not PEM", with(n1+"/ca.crt", garbage, n1+"/node.key"), "lock_engine.tls.cert: " + `"` + garbage + `": no PEM certificate`},
		{"key of another node", with(n1+"/ca.crt", n1+"/node.crt", dir+"/node2/node.key"), "lock_engine.tls.key: \"" + dir + "/node2/node.key\": does not match lock_engine.tls.cert"},
		{"key readable by all", with(n1+"/ca.crt", n1+"/node.crt", open), "lock_engine.tls.key: \"" + open + "\": readable by every user"},
		{"expired", cfg(tlsSection(dir, "expired")), "lock_engine.tls.cert: \"" + dir + "/expired/node.crt\": expired at"},
		{"not yet valid", cfg(tlsSection(dir, "future")), "lock_engine.tls.cert: \"" + dir + "/future/node.crt\": not valid before"},
		{"another CA", with(n1+"/ca.crt", dir+"/other/node.crt", dir+"/other/node.key"), "lock_engine.tls.cert: \"" + dir + "/other/node.crt\": not issued by lock_engine.tls.ca"},
		{"another node's certificate", cfg(tlsSection(dir, "node2")), "lock_engine.tls.cert: \"" + dir + "/node2/node.crt\": does not name 192.168.100.1 (the host of lock_engine.peer_url)"},
		{"server use only", node1 + "lock_engine: {type: etcd-embedded, client_url: \"https://localhost:2379\", tls: " + tlsSection(dir, "serveronly") + "}\n",
			"lock_engine.tls.cert: \"" + dir + "/serveronly/node.crt\": not valid for TLS client use"},
		{"external: client certificate need not name the endpoint", node1 + "lock_engine: {type: etcd-external, endpoints: [\"https://192.168.100.7:2379\"], tls: " + tlsSection(dir, "node2") + "}\n", ""},
		{"external: expired", node1 + "lock_engine: {type: etcd-external, endpoints: [\"https://192.168.100.7:2379\"], tls: " + tlsSection(dir, "expired") + "}\n", "expired at"},
	})
}
