package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// probeEvent is one JSON line of dlmprobe.
type probeEvent struct {
	Event string `json:"event"`
	Mode  string `json:"mode"`
	LVB   string `json:"lvb"`
	Error string `json:"error"`
}

func probeEvents(out string) []probeEvent {
	var evs []probeEvent
	for _, ln := range vmlab.Lines(out) {
		var e probeEvent
		if json.Unmarshal([]byte(ln), &e) == nil && e.Event != "" {
			evs = append(evs, e)
		}
	}
	return evs
}

func hasEvent(evs []probeEvent, name string) (probeEvent, bool) {
	for _, e := range evs {
		if e.Event == name {
			return e, true
		}
	}
	return probeEvent{}, false
}

// KernelDLMContention runs the kernel engine (mdcluster.dev/dlm/kerneldlm, through dlmprobe) on
// two guests whose kernel DLM is run by mdclusterd (etcd inside node1's agent): node1 holds EX; node2's NOQUEUE
// request is refused; node2's queued request makes node1 get a blocking notice; node1 unlocks
// writing the lock value block, and node2 is granted and reads it.
func KernelDLMContention(ctx context.Context, l *vmlab.Lab) error {
	for n := 1; n <= 2; n++ {
		if err := startControlPlaneConfig(ctx, l, n, privateEtcdConfig(n)); err != nil {
			return err
		}
	}
	type result struct {
		out string
		err error
	}
	holder := make(chan result, 1)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, slow)
		defer cancel()
		r, err := l.Node(1).Run(cctx, "dlmprobe -ls mdtest -lock shared -mode EX -hold 60s -lvb written-by-node1 -release-on-bast 2>&1 | tee /tmp/probe1.json")
		holder <- result{r.Stdout, err}
	}()
	if _, err := step(ctx, l, 1, quick, "node1: dlmprobe holds EX on shared",
		`for i in $(seq 1 100); do grep -q '"granted"' /tmp/probe1.json 2>/dev/null && exit 0; sleep 0.2; done; cat /tmp/probe1.json; exit 1`); err != nil {
		return err
	}
	r, err := l.Step(ctx, 2, quick, "node2: NOQUEUE EX request is refused",
		"dlmprobe -ls mdtest -lock shared -mode EX -try -hold 1s 2>&1; echo rc=$?")
	if err != nil {
		return err
	}
	if _, granted := hasEvent(probeEvents(r.Stdout), "granted"); granted || !strings.Contains(r.Stdout, "rc=1") || !strings.Contains(r.Stdout, "would block") {
		return fmt.Errorf("node2's NOQUEUE request should fail with would-block while node1 holds EX:\n%s", r.Stdout)
	}
	out, err := step(ctx, l, 2, slow, "node2: queued EX request (node1 gets a blocking notice)",
		"dlmprobe -ls mdtest -lock shared -mode EX -hold 1s -timeout 90s 2>&1")
	if err != nil {
		return err
	}
	g, ok := hasEvent(probeEvents(out), "granted")
	if !ok || g.LVB != "written-by-node1" {
		return fmt.Errorf("node2 should be granted EX and read node1's value block:\n%s", out)
	}
	l.Logf("node2: granted EX after node1 unlocked; LVB %q", g.LVB)
	var h result
	select {
	case h = <-holder:
	case <-time.After(quick):
		return fmt.Errorf("node1's probe did not end after the blocking notice")
	}
	if h.err != nil {
		return h.err
	}
	evs := probeEvents(h.out)
	b, okB := hasEvent(evs, "bast")
	_, okU := hasEvent(evs, "unlocked")
	if !okB || b.Mode != "EX" || !okU {
		return fmt.Errorf("node1 should get a blocking notice for EX and unlock:\n%s", h.out)
	}
	l.Logf("node1: blocking notice (wanted %s), unlocked with the LVB", b.Mode)
	return nil
}

// privateEtcdConfig is an agent configuration for labs without user networking: node1's agent
// runs an embedded etcd on the private network and node2's agent uses it; both run the kernel
// DLM's control plane.
func privateEtcdConfig(node int) string {
	engine := `{type: etcd-external, endpoints: ["http://192.168.100.1:2379"], insecure: true}`
	if node == 1 {
		engine = `{type: etcd-embedded, data_dir: /tmp/etcd, client_url: "http://192.168.100.1:2379", peer_url: "http://127.0.0.1:2380", insecure: true}`
	}
	return fmt.Sprintf(`node: {name: node%[1]d, id: %[1]d, address: 192.168.100.%[1]d}
cluster: {name: mdlab}
lock_engine: %[2]s
leases: {ttl: 10s, watchdog: /dev/watchdog, watchdog_margin: 4s}
listen: {api_socket: /run/mdcluster/mdclusterd.sock, metrics: ""}
dlm_control: {mode: mdclusterd}
`, node, engine)
}
