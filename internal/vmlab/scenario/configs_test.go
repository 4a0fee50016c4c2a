package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/mdcluster/config"
)

// The agent configurations the scenarios write pass the agent's own validation: a scenario
// that failed at check-config in the guest would cost a VM boot to find out.
func TestScenarioConfigsValid(t *testing.T) {
	exclusive := "  - {uuid: fd4485b9:5882c440:166d447e:b3049159, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n"
	cfgs := map[string]string{
		"AgentConfig":          vmlab.AgentConfig(2, 23790, "10s", "2s", exclusive),
		"ClusterAgentConfig":   ClusterAgentConfig(3, "15s", "5s", exclusive),
		"ControldConfig":       ControldConfig(1, 23790, 20*time.Second, 9*time.Second),
		"privateEtcdConfig(1)": privateEtcdConfig(1),
		"privateEtcdConfig(2)": privateEtcdConfig(2),
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
