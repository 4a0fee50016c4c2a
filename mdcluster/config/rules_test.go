package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rule is one row of a table that shows a rule's boundary: the accepted case (want "") next to
// the rejected one (want: a part of the one-line error, which must name the key).
type rule struct{ name, yaml, want string }

func runRules(t *testing.T, rules []rule) {
	t.Helper()
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

const (
	exclusiveArray = "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: exclusive, devices: [/dev/sda]}]\n"
	clusteredArray = "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: clustered, devices: [/dev/sda]}]\n"
	dog            = "leases: {watchdog: /dev/watchdog}\n"
	external       = "node: {name: n1, id: 1}\ncluster: {name: mdlab}\nlock_engine: {type: etcd-external, endpoints: [\"http://127.0.0.1:2379\"]}\n"
)

// Each node's etcd-embedded is a lock service of its own: two nodes configured alike would both
// be granted every array. Arrays on it need the file to say that this is a one-node cluster.
func TestRuleEmbeddedIsPrivate(t *testing.T) {
	single := "node: {name: n1, id: 1}\ncluster: {name: mdlab, single_node: true}\n"
	runRules(t, []rule{
		{"embedded without arrays", minimal, ""},
		{"embedded, exclusive array", minimal + dog + exclusiveArray, `lock_engine.type: "etcd-embedded": a lock service private to this node`},
		{"embedded, clustered array", minimal + clusteredArray, `lock_engine.type: "etcd-embedded"`},
		{"embedded, arrays, single node", single + dog + exclusiveArray, ""},
		{"embedded, single node false", strings.Replace(single, "true", "false", 1) + clusteredArray, `lock_engine.type: "etcd-embedded"`},
		{"external, arrays", external + dog + exclusiveArray, ""},
		{"single node with a shared lock service", strings.Replace(external, "cluster: {name: mdlab}", "cluster: {name: mdlab, single_node: true}", 1),
			"cluster.single_node: only with lock_engine.type etcd-embedded"},
	})
}

// An exclusive array is only safe when its holder resets itself before its lease can expire.
func TestRuleExclusiveNeedsWatchdog(t *testing.T) {
	runRules(t, []rule{
		{"exclusive with watchdog", external + dog + exclusiveArray, ""},
		{"exclusive without watchdog", external + exclusiveArray, "leases.watchdog: exclusive arrays need self-fencing"},
		{"clustered without watchdog", external + clusteredArray, ""},
	})
}

// The margin must leave a session renewed on schedule clear of its fence point (fence.Healthy
// with etcdlock's renewal timing) and, with a watchdog, exceed the watchdog timeout.
func TestRuleWatchdogMargin(t *testing.T) {
	leases := func(s string) string { return minimal + "leases: {" + s + "}\n" }
	runRules(t, []rule{
		{"half the TTL", leases("ttl: 15s, watchdog: /dev/watchdog, watchdog_margin: 7500ms"), ""},
		{"7s margin: a 1s timeout still fits", leases("ttl: 15s, watchdog: /dev/watchdog, watchdog_margin: 7s"), ""},
		{"margin plus three 1s timeouts past the renewal slack", leases("ttl: 7s, watchdog: /dev/watchdog, watchdog_margin: 3500ms"), "no watchdog timeout of a second or more fits"},
		{"above half the TTL", leases("ttl: 15s, watchdog: /dev/watchdog, watchdog_margin: 7501ms"), `leases.watchdog_margin: "7.501s": want 1s to leases.ttl/2 (7.5s)`},
		{"a healthy node would reset", leases("ttl: 15s, watchdog: /dev/watchdog, watchdog_margin: 11s"), "leases.watchdog_margin"},
		{"above half the TTL without watchdog", leases("ttl: 15s, watchdog_margin: 8s"), "leases.watchdog_margin"},
		{"1s without watchdog", leases("ttl: 5s, watchdog_margin: 1s"), ""},
		{"below 1s", leases("ttl: 5s, watchdog_margin: 999ms"), `leases.watchdog_margin: "999ms": want 1s to`},
		{"zero", leases("ttl: 5s, watchdog_margin: 0s"), "leases.watchdog_margin"},
		{"smallest with a watchdog", leases("ttl: 7s, watchdog: /dev/watchdog, watchdog_margin: 2s"), ""},
		{"the shortest TTL leaves no room for a watchdog", leases("ttl: 5s, watchdog: /dev/watchdog, watchdog_margin: 2s"), "no watchdog timeout of a second or more fits"},
		{"below the smallest with a watchdog", leases("ttl: 7s, watchdog: /dev/watchdog, watchdog_margin: 1999ms"), `leases.watchdog_margin: "1.999s": want at least 2s with a watchdog`},
		{"largest TTL", leases("ttl: 5m, watchdog: /dev/watchdog, watchdog_margin: 150s"), ""},
		{"largest TTL, smallest margin", leases("ttl: 5m, watchdog: /dev/watchdog, watchdog_margin: 3s"), ""},
		{"largest TTL, margin below the clock drift over it", leases("ttl: 5m, watchdog: /dev/watchdog, watchdog_margin: 2s"), "leases.watchdog_margin"},
		{"a long TTL, margin below the clock drift over it", leases("ttl: 4m, watchdog_margin: 2s"), "1% clock-rate"},
	})
}

// The fence wait lengthens every failover of the clustered arrays; beyond one TTL it buys
// nothing the watchdog does not already guarantee.
func TestRuleFenceWait(t *testing.T) {
	ctl := func(ttl, wait string) string {
		return "node: {name: n1, id: 1, address: 10.0.0.1}\ncluster: {name: mdlab}\n" +
			"lock_engine: {type: etcd-external, endpoints: [\"http://127.0.0.1:2379\"]}\n" +
			"leases: {ttl: " + ttl + ", watchdog: /dev/watchdog, watchdog_margin: 2s}\n" +
			"dlm_control: {mode: mdclusterd, fence_wait: " + wait + "}\n"
	}
	runRules(t, []rule{
		{"zero (the margin)", ctl("7s", "0s"), ""},
		{"one TTL", ctl("7s", "7s"), ""},
		{"above one TTL", ctl("7s", "7001ms"), `dlm_control.fence_wait: "7.001s": want 0 (leases.watchdog_margin) to leases.ttl (7s)`},
		{"5m with a 7s TTL", ctl("7s", "5m"), "dlm_control.fence_wait"},
		{"5m with a 5m TTL", ctl("5m", "5m"), "leases.watchdog_margin"}, // 2s is below 1% of 5m
		{"negative", ctl("7s", "-1s"), "dlm_control.fence_wait"},
		{"lease_file unknown", strings.Replace(ctl("7s", "0s"), "fence_wait: 0s", "lease_file: /run/mdcluster/controld.lease", 1), `unknown key "lease_file" (in dlm_control)`},
	})
}

func TestRuleDuplicates(t *testing.T) {
	arr := func(name, devs string) string {
		return "{uuid: " + fmt.Sprintf("%08x", len(name)+len(devs)*7) + ":5882c440:166d447e:b3049159, name: " + name + ", mode: clustered, devices: [" + devs + "]}"
	}
	peers := func(p ...string) string {
		return "node: {name: n1, id: 1}\ncluster: {name: mdlab}\nlock_engine: {type: etcd-cluster, client_url: \"http://127.0.0.1:2379\", peer_url: \"http://127.0.0.1:2380\", peers: [" +
			strings.Join(p, ", ") + "]}\n"
	}
	runRules(t, []rule{
		{"distinct arrays", external + "arrays: [" + arr("a", "/dev/sda, /dev/sdb") + ", " + arr("bb", "/dev/sdc") + "]\n", ""},
		{"array name twice", external + "arrays: [" + arr("a", "/dev/sda") + ", " + arr("a", "/dev/sdcc") + "]\n", `arrays[1].name: "a": listed twice`},
		{"device twice in one array", external + "arrays: [" + arr("a", "/dev/sda, /dev/sda") + "]\n", `arrays[0].devices[1]: "/dev/sda": listed twice (arrays[0].devices[0])`},
		{"device in two arrays", external + "arrays: [" + arr("a", "/dev/sda, /dev/sdb") + ", " + arr("bb", "/dev/sdb") + "]\n", `arrays[1].devices[0]: "/dev/sdb": listed twice (arrays[0].devices[1])`},
		{"distinct peers", peers("{name: n1, peer_url: \"http://127.0.0.1:2380\"}", "{name: n2, peer_url: \"http://127.0.0.2:2380\"}", "{name: n3, peer_url: \"http://127.0.0.3:2380\"}"), ""},
		{"peer name twice", peers("{name: n1, peer_url: \"http://127.0.0.1:2380\"}", "{name: n1, peer_url: \"http://127.0.0.2:2380\"}", "{name: n3, peer_url: \"http://127.0.0.3:2380\"}"), `lock_engine.peers[1].name: "n1": listed twice`},
		{"peer url twice", peers("{name: n1, peer_url: \"http://127.0.0.1:2380\"}", "{name: n2, peer_url: \"http://127.0.0.3:2380\"}", "{name: n3, peer_url: \"http://127.0.0.3:2380\"}"), `lock_engine.peers[2].peer_url: "http://127.0.0.3:2380": listed twice (lock_engine.peers[1])`},
		{"peer url twice, other spelling", peers("{name: n1, peer_url: \"http://127.0.0.1:2380\"}", "{name: n2, peer_url: \"http://localhost:2381\"}", "{name: n3, peer_url: \"http://LOCALHOST:2381/\"}"), `lock_engine.peers[2].peer_url`},
	})
}

// A path key must be absolute and clean: "..", "." and "//" make the file named depend on what
// the path walks through, and a file that names /dev/sdb twice in two spellings hides a duplicate.
func TestRuleCleanPaths(t *testing.T) {
	runRules(t, []rule{
		{"clean", minimal + "lock_engine: {data_dir: /var/lib/mdcluster/etcd}\nleases: {watchdog: /dev/watchdog}\nlisten: {api_socket: /run/mdcluster/s.sock}\n", ""},
		{"data_dir ..", minimal + "lock_engine: {data_dir: /var/lib/../lib/etcd}\n", `lock_engine.data_dir: "/var/lib/../lib/etcd": want a clean absolute path`},
		{"data_dir trailing slash", minimal + "lock_engine: {data_dir: /var/lib/etcd/}\n", "lock_engine.data_dir"},
		{"watchdog //", minimal + "leases: {watchdog: //dev/watchdog}\n", "leases.watchdog"},
		{"api_socket .", minimal + "listen: {api_socket: /run/./s.sock}\n", "listen.api_socket"},
		{"metrics_web_config ..", minimal + "listen: {metrics_web_config: /etc/../web.yml}\n", "listen.metrics_web_config"},
		{"device ..", external + "arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: clustered, devices: [/dev/../dev/sda]}]\n", "arrays[0].devices[0]"},
		{"tls ca ..", external + "lock_engine: {tls: {ca: /etc/x/../ca.crt}}\n", "mapping key"}, // a second lock_engine is a YAML error
		{"tls ca ..", strings.Replace(external, "endpoints:", "tls: {ca: /etc/x/../ca.crt, cert: /c, key: /k}, endpoints:", 1), "lock_engine.tls.ca"},
	})
}

func TestRuleFileSize(t *testing.T) {
	pad := func(n int) string {
		var b strings.Builder
		b.WriteString(minimal)
		line := "#" + strings.Repeat("x", 99) + "\n"
		for b.Len()+len(line) <= n {
			b.WriteString(line)
		}
		b.WriteString(strings.Repeat("#", n-b.Len()))
		return b.String()
	}
	runRules(t, []rule{
		{"1 MiB", pad(1 << 20), ""},
		{"1 MiB + 1", pad(1<<20 + 1), "larger than 1 MiB"},
	})
}

// listen.metrics_web_config must exist and parse as exporter-toolkit's web configuration.
func TestRuleMetricsWebConfig(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "web.yml"), filepath.Join(dir, "bad.yml")
	os.WriteFile(good, []byte("basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600)
	os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600)
	web := func(p string) string { return minimal + "listen: {metrics_web_config: " + p + "}\n" }
	runRules(t, []rule{
		{"valid", web(good), ""},
		{"missing", web(filepath.Join(dir, "none.yml")), `listen.metrics_web_config: "` + filepath.Join(dir, "none.yml") + `": `},
		{"does not parse", web(bad), `listen.metrics_web_config: "` + bad + `": `},
		{"not YAML", web("/dev/null"), "listen.metrics_web_config"},
		{"a directory", web(dir), "not a regular file"},
	})
}

// The raft timing of the member this node runs, within etcd's own rules.
func TestRuleRaftTiming(t *testing.T) {
	runRules(t, []rule{
		{"defaults", minimal, ""},
		{"election 500ms, heartbeat 50ms", minimal + "lock_engine: {election_timeout: 500ms, heartbeat_interval: 50ms}\n", ""},
		{"election alone", minimal + "lock_engine: {election_timeout: 2s}\n", ""},
		{"election under five heartbeats", minimal + "lock_engine: {election_timeout: 400ms, heartbeat_interval: 100ms}\n",
			`lock_engine.election_timeout: "400ms": want at least five heartbeats (500ms)`},
		{"heartbeat too short", minimal + "lock_engine: {heartbeat_interval: 5ms}\n", `lock_engine.heartbeat_interval: "5ms": want 10ms to 1s`},
		{"external etcd", strings.Replace(external, "etcd-external,", "etcd-external, election_timeout: 2s,", 1),
			"lock_engine.election_timeout: only for etcd-embedded and etcd-cluster"},
	})
}
