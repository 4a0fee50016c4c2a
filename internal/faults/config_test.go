package faults

import (
	"strings"
	"testing"
	"time"

	"mdcluster.dev/mdcluster/config"
)

// The agents' configuration is valid for the campaign's TTL and margin.
func TestAgentConfig(t *testing.T) {
	o := Options{}
	o.defaults()
	c := &campaign{o: o, etcd: &hostEtcd{port: 2379}}
	for n := 1; n <= nodes; n++ {
		cfg, err := config.Parse(strings.NewReader(c.agentConfig(n)))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Fatalf("node%d: %v\n%s", n, err, c.agentConfig(n))
		}
		if cfg.Leases.TTL.Duration != 10*time.Second || len(cfg.Arrays) != 2 {
			t.Fatalf("node%d: %+v", n, cfg)
		}
	}
}
