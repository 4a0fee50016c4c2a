package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/internal/pki"
)

// exampleWithPKI is the shipped example with its TLS files made for node1 in a temporary
// directory: the example describes node1 of a three-node cluster.
func exampleWithPKI(t *testing.T) (path, tlsDir string) {
	t.Helper()
	b, err := os.ReadFile("../../scripts/mdclusterd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.Issue("node1", []string{"192.168.100.1"}, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsDir = filepath.Join(dir, "tls")
	if err := n.Save(tlsDir, ca); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "mdclusterd.yaml")
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte("/etc/mdcluster/tls/"), []byte(tlsDir+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, tlsDir
}

func TestExampleConfig(t *testing.T) {
	// As shipped, it names certificates that are not there yet.
	if _, err := Load("../../scripts/mdclusterd.example.yaml"); err == nil || !strings.Contains(err.Error(), `lock_engine.tls.ca: "/etc/mdcluster/tls/ca.crt": no such file or directory`) {
		t.Fatalf("the shipped example without its certificates: %v", err)
	}
	path, tlsDir := exampleWithPKI(t)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("the shipped example does not load: %v", err)
	}
	want := Default()
	want.Node = Node{Name: "node1", ID: 1, Address: "192.168.100.1"}
	want.Cluster.Name = "mdlab"
	want.LockEngine.Type = EngineCluster
	want.LockEngine.ClientURL = "https://127.0.0.1:2379"
	want.LockEngine.PeerURL = "https://192.168.100.1:2380"
	want.LockEngine.Peers = []Peer{{"node1", "https://192.168.100.1:2380"}, {"node2", "https://192.168.100.2:2380"}, {"node3", "https://192.168.100.3:2380"}}
	want.LockEngine.Endpoints = []string{}
	want.LockEngine.TLS = TLS{CA: tlsDir + "/ca.crt", Cert: tlsDir + "/node.crt", Key: tlsDir + "/node.key"}
	want.Leases.Watchdog = "/dev/watchdog"
	want.Arrays = []Array{{UUID: "fd4485b9:5882c440:166d447e:b3049159", Name: "data", Mode: ModeExclusive,
		Devices: []string{"/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d5", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d6"}}}
	if diff := cmp.Diff(want, *c); diff != "" {
		t.Errorf("example config (-want +got):\n%s", diff)
	}
	if tc, ok := c.LockEngine.ClientTLSFiles(); !ok || tc != want.LockEngine.TLS {
		t.Errorf("client TLS %+v, %v", tc, ok)
	}
	if pt, ok := c.LockEngine.PeerTLSFiles(); !ok || pt != want.LockEngine.TLS {
		t.Errorf("peer TLS %+v, %v", pt, ok)
	}
}

const minimal = `
node: {name: n1, id: 1}
cluster: {name: mdlab}
`

func TestDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.LockEngine.Type != EngineEmbedded || c.Leases.TTL.Duration != 30*time.Second || c.Resync.MaxConcurrent != 1 {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestBadConfigNamesKey(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown top key", minimal + "colour: blue\n", `unknown key "colour" (in the top level)`},
		{"unknown nested key", "node: {name: n1, id: 1, nmae: x}\ncluster: {name: c}\n", `unknown key "nmae" (in node)`},
		{"unknown array key", minimal + "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: exclusive, devices: [/dev/sda], level: 5}]\n", `unknown key "level" (in arrays[])`},
		{"missing node name", "cluster: {name: c}\nnode: {id: 1}\n", "node.name"},
		{"node id range", "node: {name: n1, id: 300}\ncluster: {name: c}\n", "node.id: \"300\": want 1 to 255"},
		{"bad address", "node: {name: n1, id: 1, address: 10.0.0}\ncluster: {name: c}\n", "node.address"},
		{"duplicate key", minimal + "node: {name: n2, id: 2}\n", `mapping key "node" already defined`},
		{"cluster name", "node: {name: n1, id: 1}\ncluster: {name: \"a b\"}\n", "cluster.name"},
		{"engine type", minimal + "lock_engine: {type: zookeeper}\n", `lock_engine.type: "zookeeper": want one of`},
		{"external without endpoints", minimal + "lock_engine: {type: etcd-external}\n", "lock_engine.endpoints"},
		{"external bad endpoint", minimal + "lock_engine: {type: etcd-external, endpoints: [\"10.0.0.1:2379\"]}\n", "lock_engine.endpoints[0]"},
		{"mtls half", minimal + "lock_engine: {type: etcd-external, endpoints: [\"https://e:2379\"], tls: {cert: /c}}\n", "lock_engine.tls: want ca, cert and key together"},
		{"cluster peers count", minimal + "lock_engine: {type: etcd-cluster, peers: [{name: n1, peer_url: \"http://a:2380\"}]}\n", "lock_engine.peers: \"1 peers\""},
		{"kernel needs address", minimal + "lock_engine: {type: kernel-dlm}\n", "node.address: the kernel DLM needs"},
		{"array uuid", minimal + "arrays: [{uuid: nope, name: a, mode: exclusive, devices: [/dev/sda]}]\n", "arrays[0].uuid"},
		{"array mode", minimal + "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: shared, devices: [/dev/sda]}]\n", "arrays[0].mode: \"shared\""},
		{"array devices", minimal + "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: clustered, devices: [sda]}]\n", "arrays[0].devices[0]"},
		{"duplicate uuid", minimal + "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: clustered, devices: [/dev/a]}, {uuid: fd4485b9:5882c440:166d447e:b3049159, name: b, mode: clustered, devices: [/dev/b]}]\n", "arrays[1].uuid"},
		{"ttl syntax", minimal + "leases: {ttl: fifteen}\n", `"fifteen" is not a duration`},
		{"ttl range", minimal + "leases: {ttl: 1s}\n", "leases.ttl"},
		{"margin", minimal + "leases: {ttl: 10s, watchdog_margin: 10s}\n", "leases.watchdog_margin"},
		{"margin too small for a watchdog", minimal + "leases: {ttl: 10s, watchdog: /dev/watchdog, watchdog_margin: 1s}\n", "want at least 2s with a watchdog"},
		{"resync limit", minimal + "resync: {max_concurrent: 0}\n", "resync.max_concurrent"},
		{"socket path", minimal + "listen: {api_socket: relative.sock}\n", "listen.api_socket"},
		{"metrics addr", minimal + "listen: {metrics: \"9810\"}\n", "listen.metrics"},
		{"not yaml", "node: [\n", "did not find expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}
