package scenario

import (
	"strings"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/config"
)

// The agent configurations the scenarios write pass the agent's own validation: a scenario
// that failed at check-config in the guest would cost a VM boot to find out.
func TestScenarioConfigsValid(t *testing.T) {
	exclusive := "  - {uuid: fd4485b9:5882c440:166d447e:b3049159, name: data, mode: exclusive, devices: [/dev/vda, /dev/vdb, /dev/vdc]}\n"
	cfgs := map[string]string{
		"AgentConfig":          AgentConfig(2, 23790, "10s", "2s", exclusive),
		"AgentConfig ttl/2":    AgentConfig(1, 23790, "15s", "7500ms", exclusive),
		"ClusterAgentConfig":   ClusterAgentConfig(3, "15s", "5s", exclusive),
		"ControldConfig":       ControldConfig(1, 23790, 20*time.Second, 9*time.Second),
		"privateEtcdConfig(1)": privateEtcdConfig(1),
		"privateEtcdConfig(2)": privateEtcdConfig(2),
	}
	for name, c := range cfgs {
		if _, err := config.Parse(strings.NewReader(c)); err != nil {
			t.Errorf("%s: %v\n%s", name, err, c)
		}
	}
}
