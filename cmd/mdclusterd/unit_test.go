package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mdcluster.dev/mdcluster/agent"
)

// The systemd unit keeps what the safety protocol relies on (review item 4: systemd deleted the
// runtime directory, session file included, when the unit stopped, restarts included, and the
// restarted agent opened a second session beside its own lease).
func TestUnitKeepsSession(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "scripts", "systemd", "mdclusterd.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	service := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" && !strings.HasPrefix(line, "#") {
			service[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	run := agent.DefaultPaths().Run
	for k, want := range map[string]string{
		"RuntimeDirectory":         filepath.Base(run), // the session file's directory (/run/mdcluster)
		"RuntimeDirectoryPreserve": "yes",              // kept across stops and restarts
		"Type":                     "notify",           // ready once the session is there
		"Restart":                  "on-failure",       // a killed agent comes back to pet the watchdog
		"KillMode":                 "mixed",            // SIGTERM to the agent alone: it stops the arrays first
		// systemctl reload returns once the new binary answers (not when the signal is sent)
		"ExecReload": "/usr/sbin/mdclusterd reload --config /etc/mdcluster/mdclusterd.yaml",
	} {
		if got := service[k]; got != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	if filepath.Dir(run) != "/run" {
		t.Errorf("the agent's run directory %s is not the unit's RuntimeDirectory under /run", run)
	}
}
