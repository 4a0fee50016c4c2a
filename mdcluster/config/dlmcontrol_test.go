package config

import (
	"strings"
	"testing"
	"time"
)

const controld = `
node: {name: n1, id: 1, address: 10.0.0.1}
cluster: {name: mdlab}
lock_engine: {type: etcd-external, endpoints: ["http://127.0.0.1:2379"]}
leases: {ttl: 10s, watchdog: /dev/watchdog, watchdog_margin: 3s}
`

func TestDLMControl(t *testing.T) {
	c, err := Parse(strings.NewReader(controld + "dlm_control: {mode: mdclusterd}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DLMControl.Mode != ControlMdclusterd || c.EffectiveFenceWait() != 3*time.Second {
		t.Errorf("dlm_control = %+v, fence wait %s", c.DLMControl, c.EffectiveFenceWait())
	}
	c, err = Parse(strings.NewReader(controld + "dlm_control: {mode: mdclusterd, fence_wait: 7s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.EffectiveFenceWait() != 7*time.Second {
		t.Errorf("fence wait %s, want 7s", c.EffectiveFenceWait())
	}
	if c, err := Parse(strings.NewReader(minimal)); err != nil || c.DLMControl.Mode != ControlOff {
		t.Errorf("default mode: %v, %v", c, err)
	}
}

func TestDLMControlErrors(t *testing.T) {
	noDog := strings.Replace(controld, "watchdog: /dev/watchdog, ", "", 1)
	for _, tc := range []struct{ name, yaml, want string }{
		{"mode", controld + "dlm_control: {mode: corosync}\n", `dlm_control.mode: "corosync": want off, mdclusterd or external`},
		{"address", strings.Replace(controld, ", address: 10.0.0.1", "", 1) + "dlm_control: {mode: mdclusterd}\n", "node.address: dlm_control.mode mdclusterd"},
		{"kernel engine", "node: {name: n1, id: 1, address: 10.0.0.1}\ncluster: {name: c}\nlock_engine: {type: kernel-dlm}\ndlm_control: {mode: mdclusterd}\n", "dlm_control.mode: \"mdclusterd\": the kernel-dlm lock engine"},
		{"no fencing", noDog + "dlm_control: {mode: mdclusterd}\n", "dlm_control.fence_command: without leases.watchdog"},
		{"fence wait", controld + "dlm_control: {mode: mdclusterd, fence_wait: 10m}\n", "dlm_control.fence_wait"},
		{"unknown key", controld + "dlm_control: {mode: off, fence: x}\n", `unknown key "fence" (in dlm_control)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Parse(strings.NewReader(noDog + "dlm_control: {mode: mdclusterd, fence_command: \"fence_ipmi $FENCE_NODE_ADDRESS\"}\n")); err != nil {
		t.Errorf("a fence command without watchdog is refused: %v", err)
	}
}
