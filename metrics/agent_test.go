package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"mdcluster.dev/mdcluster/api"
)

// fakeAgent is an AgentSource with a fixed status, shaped like what the agent's Status
// returns for a two-node cluster with one exclusive and one clustered array.
type fakeAgent struct {
	st  api.Status
	err error
	n   api.Counters
}

func (f *fakeAgent) Status(context.Context) (api.Status, error) { return f.st, f.err }
func (f *fakeAgent) Counters() api.Counters                     { return f.n }

func twoNodeAgent() *fakeAgent {
	return &fakeAgent{
		st: api.Status{Node: "node1", NodeID: 1, Cluster: "mdlab", Engine: "etcd-embedded",
			Session: api.SessionInfo{Valid: true, TTL: 10 * time.Second},
			Members: []api.Member{{Name: "node1", ID: 1}, {Name: "node2", ID: 2}},
			Arrays: []api.ArrayStatus{
				{UUID: "a5000000-0000-0000-0000-000000000002", Name: "data5", Mode: "exclusive", Device: "md1", ActiveOn: "node1"},
				{UUID: "a1000000-0000-0000-0000-000000000001", Name: "shared1", Mode: "clustered", Device: "md0", Problem: "resync waits"},
			},
			Leases: []api.Lease{{Array: "data5", Kind: api.KindActivation, Holder: "node1", Token: 7},
				{Array: "shared1", Kind: api.KindResync, Holder: "node2"}}, // node2's: token unknown here
			Resyncs: []api.Resync{{Array: "shared1", Node: "node1", Action: "resync", Progress: 0.25, Waiting: true}},
			Scrubs: []api.ScrubStatus{
				{Array: "data5", State: "running", Action: "check", Node: "node1", Position: 1024, Total: 4096, Mismatches: 8},
				{Array: "shared1", State: "done", Action: "check", Node: "node2", Position: 2048, Total: 2048,
					Finished: time.Unix(1767225600, 0)},
			},
		},
		n: api.Counters{Reconciles: 40, ReconcileErrors: 2, NewDiskConfirmed: 1,
			Actions: map[string]uint64{"assemble": 1, "freeze": 3},
			Events:  map[string]uint64{"array_assembled": 1, "scrub_started": 2}, EventsDropped: 3},
	}
}

func TestAgent(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddAgent(twoNodeAgent()))
	want := `
# HELP mdcluster_array_info A managed array as this node sees it: mode, local md device and the node it is active on; always 1.
# TYPE mdcluster_array_info gauge
mdcluster_array_info{active_on="",array="shared1",device="md0",mode="clustered",uuid="a1000000-0000-0000-0000-000000000001"} 1
mdcluster_array_info{active_on="node1",array="data5",device="md1",mode="exclusive",uuid="a5000000-0000-0000-0000-000000000002"} 1
# HELP mdcluster_array_problem Whether the agent reports a problem with a managed array (1) or not (0).
# TYPE mdcluster_array_problem gauge
mdcluster_array_problem{array="data5"} 0
mdcluster_array_problem{array="shared1"} 1
# HELP mdcluster_cluster_members Number of nodes with a live session in the cluster.
# TYPE mdcluster_cluster_members gauge
mdcluster_cluster_members 2
# HELP mdcluster_lease_info A lease held in the cluster on an array, by kind and holder; always 1.
# TYPE mdcluster_lease_info gauge
mdcluster_lease_info{array="data5",holder="node1",kind="activation"} 1
mdcluster_lease_info{array="shared1",holder="node2",kind="resync"} 1
# HELP mdcluster_lease_fencing_token Fencing token of a lease held in the cluster.
# TYPE mdcluster_lease_fencing_token gauge
mdcluster_lease_fencing_token{array="data5",holder="node1",kind="activation"} 7
# HELP mdcluster_newdisk_requests_total md-cluster new-disk requests answered by this node, by answer (confirmed or refused).
# TYPE mdcluster_newdisk_requests_total counter
mdcluster_newdisk_requests_total{answer="confirmed"} 1
mdcluster_newdisk_requests_total{answer="refused"} 0
# HELP mdcluster_reconcile_actions_total Actions the reconcile loop took on md or the lock engine, by action.
# TYPE mdcluster_reconcile_actions_total counter
mdcluster_reconcile_actions_total{action="assemble"} 1
mdcluster_reconcile_actions_total{action="freeze"} 3
# HELP mdcluster_resync_waiting Whether a resync or recovery is held back for want of a lease (1) or runs (0).
# TYPE mdcluster_resync_waiting gauge
mdcluster_resync_waiting{action="resync",array="shared1",node="node1"} 1
# HELP mdcluster_session_valid Whether this node holds a live session in the lock engine (1) or not (0).
# TYPE mdcluster_session_valid gauge
mdcluster_session_valid 1
`
	names := []string{"mdcluster_array_info", "mdcluster_array_problem", "mdcluster_cluster_members", "mdcluster_lease_info", "mdcluster_lease_fencing_token",
		"mdcluster_newdisk_requests_total", "mdcluster_reconcile_actions_total", "mdcluster_resync_waiting", "mdcluster_session_valid"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

// TestAgentStatusError: counters are still reported, status figures are not, and the scrape
// says the collector failed.
func TestAgentStatusError(t *testing.T) {
	t.Parallel()
	a := twoNodeAgent()
	a.err = errors.New("etcd: context deadline exceeded")
	reg := registry(t, NewSet(testLogger(t)).AddAgent(a))
	want := `
# HELP mdcluster_agent_status_up Whether the agent's status could be read for this scrape (1) or not (0).
# TYPE mdcluster_agent_status_up gauge
mdcluster_agent_status_up 0
# HELP mdcluster_reconciles_total Reconcile passes over managed arrays.
# TYPE mdcluster_reconciles_total counter
mdcluster_reconciles_total 40
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="agent"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mdcluster_agent_status_up",
		"mdcluster_reconciles_total", "mdcluster_scrape_collector_success", "mdcluster_session_valid"); err != nil {
		t.Fatal(err)
	}
}
