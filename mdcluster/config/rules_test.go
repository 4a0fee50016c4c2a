package config

import (
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
