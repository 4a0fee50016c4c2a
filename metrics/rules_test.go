package metrics

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

const rulesDir = "../scripts/prometheus/"

// TestAlertRules: the shipped alerting rules pass promtool's check and their unit tests
// (mdcluster-rules.test.yml), and every metric they use is one the exporter exports (up aside,
// Prometheus's own), so a rename cannot silence an alert.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found in PATH: install Debian's prometheus package (make lab does), which provides /usr/bin/promtool")
	}
	for _, args := range [][]string{{"check", "rules", "mdcluster-rules.yml"}, {"test", "rules", "mdcluster-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	b, err := os.ReadFile(rulesDir + "mdcluster-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	exported := exportedNames()
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(r.Expr) {
				if n != "up" && !slices.Contains(exported, n) {
					t.Errorf("alert %s uses %s, which the exporter does not export", r.Alert, n)
				}
			}
		}
	}
	for _, want := range []string{"MdArrayDegraded", "MdMemberFailed", "MdResyncStuck", "MdResyncHeldTooLong", "MdScrubMismatches",
		"MdExclusiveArrayUnheld", "MdclusterNodeFenced", "MdclusterSessionExpired", "MdclusterScrapeErrors"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}
