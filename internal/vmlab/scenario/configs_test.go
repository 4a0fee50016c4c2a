package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/internal/pki"
	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/config"
)

// The agent configurations the scenarios write pass the agent's own validation: a scenario
// that failed at check-config in the guest would cost a VM boot to find out.
func TestScenarioConfigsValid(t *testing.T) {
	exclusive := "  - {uuid: fd4485b9:5882c440:166d447e:b3049159, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n"
	tls := t.TempDir()
	cfgs := map[string]string{
		"AgentConfig":          vmlab.AgentConfig(2, 23790, "10s", "2s", exclusive),
		"ClusterAgentConfig":   ClusterAgentConfig(3, "15s", "5s", exclusive),
		"ControldConfig":       ControldConfig(1, 23790, 20*time.Second, 9*time.Second),
		"privateEtcdConfig(1)": privateEtcdConfig(1),
		"privateEtcdConfig(2)": privateEtcdConfig(2),
		// The Debian guests: on the host's etcd, and the production topology (doctor, failover,
		// the README's guide) with the doctor's too-short TTL (valid, but below etcd's failover).
		"DebianConfig":      DebianConfig(2, 23790, debianArrays("fd4485b9:5882c440:166d447e:b3049159", "c3b1a2d4:7e6f5a49:2d8c1b03:f4e5a617")),
		"ProdConfig 15s/5s": withTLSFiles(t, tls, ProdConfig(1, "15s", "5s", "election_timeout: 500ms", debianArrays("fd4485b9:5882c440:166d447e:b3049159", ""))),
		"ProdConfig doctor": withTLSFiles(t, tls, ProdConfig(1, "7s", "2s", "", "")),
	}
	// Every TTL and margin the VM suite runs with: a pair the validation refuses fails the
	// scenario at start-up, minutes into the suite.
	for _, p := range []struct{ ttl, margin time.Duration }{
		{7 * time.Second, 2 * time.Second},  // TestControldCrashFigures
		{8 * time.Second, 3 * time.Second},  // ExclusiveFailover (3/8 of the TTL), AgentPaused, NetworkCut, ControldRAID10
		{10 * time.Second, 2 * time.Second}, // ResyncConcurrency, NewDiskConfirm
		{10 * time.Second, 4 * time.Second}, // CleanStop, NoWatchdog, TestControldCrashFigures
		{15 * time.Second, 5 * time.Second}, // KillAgent, AgentRestart, ClusterFailover (TTL/3)
		{30 * time.Second, 5 * time.Second}, // EtcdOutage
		{20 * time.Second, 6 * time.Second}, // the Debian guests on the host's etcd (DebianConfig)
		{15 * time.Second, 5 * time.Second}, // the production topology (ProdConfig), the README's guide
		{7 * time.Second, 2 * time.Second},  // DebianDoctor's too-short TTL
	} {
		cfgs[fmt.Sprintf("AgentConfig %s/%s", p.ttl, p.margin)] = vmlab.AgentConfig(1, 23790, p.ttl.String(), p.margin.String(), exclusive)
		cfgs[fmt.Sprintf("ControldConfig %s/%s", p.ttl, p.margin)] = ControldConfig(1, 23790, p.ttl, p.margin)
	}
	for name, c := range cfgs {
		if _, err := config.Parse(strings.NewReader(c)); err != nil {
			t.Errorf("%s: %v\n%s", name, err, c)
		}
	}
}

// withTLSFiles points a production configuration's tls files at a node certificate made under
// dir: the validation reads them, and only the guests have /etc/mdcluster/tls.
func withTLSFiles(t *testing.T, dir, cfg string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node.crt")); err != nil {
		ca, err := pki.NewCA("test CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		n, err := ca.Issue("node1", []string{"192.168.100.1"}, time.Time{}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Save(dir, ca); err != nil {
			t.Fatal(err)
		}
	}
	return strings.ReplaceAll(cfg, "/etc/mdcluster/tls/", dir+"/")
}
