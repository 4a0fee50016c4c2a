package metrics

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mdcluster.dev/mdcluster/api"
)

// AgentSource is what the agent collector reads: the status the local API serves and the
// agent's running totals. The agent (mdcluster/agent) implements it.
type AgentSource interface {
	Status(ctx context.Context) (api.Status, error)
	Counters() api.Counters
}

// agentStatusTimeout bounds how long one scrape waits for the agent's status.
const agentStatusTimeout = 5 * time.Second

func agentDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	nodeInfoDesc = agentDesc("node_info", "This agent's node name and id, its cluster and lock engine; always 1.",
		"node", "node_id", "cluster", "engine")
	sessionValidDesc = agentDesc("session_valid", "Whether this node holds a live session in the lock engine (1) or not (0).")
	sessionTTLDesc   = agentDesc("session_ttl_seconds", "Time a session outlives its node's last refresh.")
	membersDesc      = agentDesc("cluster_members", "Number of nodes with a live session in the cluster.")
	memberDesc       = agentDesc("cluster_member_info", "A node with a live session in the cluster; always 1.", "node", "node_id")
	arrayInfoDesc    = agentDesc("array_info", "A managed array as this node sees it: mode, local md device and the node it is active on; always 1.",
		"array", "uuid", "mode", "device", "active_on")
	arrayProblemDesc = agentDesc("array_problem", "Whether the agent reports a problem with a managed array (1) or not (0).", "array")
	leaseDesc        = agentDesc("lease_info", "A lease held in the cluster on an array, by kind and holder; always 1.", "array", "kind", "holder")
	leaseTokenDesc   = agentDesc("lease_fencing_token", "Fencing token of a lease held in the cluster.", "array", "kind", "holder")
	resyncDesc       = agentDesc("resync_progress_ratio", "Fraction done of a resync or recovery the agent tracks.", "array", "node", "action")
	resyncWaitDesc   = agentDesc("resync_waiting", "Whether a resync or recovery is held back for want of a lease (1) or runs (0).", "array", "node", "action")
	reconcilesDesc   = agentDesc("reconciles_total", "Reconcile passes over managed arrays.")
	reconcileErrDesc = agentDesc("reconcile_errors_total", "Reconcile passes that ended in an error.")
	actionsDesc      = agentDesc("reconcile_actions_total", "Actions the reconcile loop took on md or the lock engine, by action.", "action")
	newDiskDesc      = agentDesc("newdisk_requests_total", "md-cluster new-disk requests answered by this node, by answer (confirmed or refused).", "answer")
	statusUpDesc     = agentDesc("agent_status_up", "Whether the agent's status could be read for this scrape (1) or not (0).")

	agentDescs = []*prometheus.Desc{nodeInfoDesc, sessionValidDesc, sessionTTLDesc, membersDesc, memberDesc, arrayInfoDesc,
		arrayProblemDesc, leaseDesc, leaseTokenDesc, resyncDesc, resyncWaitDesc, reconcilesDesc, reconcileErrDesc,
		actionsDesc, newDiskDesc, statusUpDesc}
)

type agentCollector struct{ src AgentSource }

// AddAgent adds the agent collector ("agent") to the set.
func (s *Set) AddAgent(src AgentSource) *Set { return s.add("agent", &agentCollector{src: src}) }

func (c *agentCollector) describe(ch chan<- *prometheus.Desc) {
	for _, d := range agentDescs {
		ch <- d
	}
}

func (c *agentCollector) update(ch chan<- prometheus.Metric) error {
	n := c.src.Counters()
	counter(ch, reconcilesDesc, float64(n.Reconciles))
	counter(ch, reconcileErrDesc, float64(n.ReconcileErrors))
	actions := make([]string, 0, len(n.Actions))
	for a := range n.Actions {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for _, a := range actions {
		counter(ch, actionsDesc, float64(n.Actions[a]), a)
	}
	counter(ch, newDiskDesc, float64(n.NewDiskConfirmed), "confirmed")
	counter(ch, newDiskDesc, float64(n.NewDiskNacked), "refused")

	ctx, cancel := context.WithTimeout(context.Background(), agentStatusTimeout)
	defer cancel()
	st, err := c.src.Status(ctx)
	gauge(ch, statusUpDesc, boolf(err == nil))
	if err != nil {
		return fmt.Errorf("agent collector: status: %w", err)
	}
	gauge(ch, nodeInfoDesc, 1, st.Node, strconv.Itoa(st.NodeID), st.Cluster, st.Engine)
	gauge(ch, sessionValidDesc, boolf(st.Session.Valid))
	gauge(ch, sessionTTLDesc, st.Session.TTL.Seconds())
	gauge(ch, membersDesc, float64(len(st.Members)))
	for _, m := range st.Members {
		gauge(ch, memberDesc, 1, m.Name, strconv.Itoa(m.ID))
	}
	for _, a := range st.Arrays {
		gauge(ch, arrayInfoDesc, 1, a.Name, a.UUID, a.Mode, a.Device, a.ActiveOn)
		gauge(ch, arrayProblemDesc, boolf(a.Problem != ""), a.Name)
	}
	for _, l := range st.Leases {
		gauge(ch, leaseDesc, 1, l.Array, l.Kind, l.Holder)
		if l.Token != 0 { // only the holder knows its token
			gauge(ch, leaseTokenDesc, float64(l.Token), l.Array, l.Kind, l.Holder)
		}
	}
	for _, r := range st.Resyncs {
		gauge(ch, resyncDesc, r.Progress, r.Array, r.Node, r.Action)
		gauge(ch, resyncWaitDesc, boolf(r.Waiting), r.Array, r.Node, r.Action)
	}
	return nil
}
