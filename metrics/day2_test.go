package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The event log's counters and every array's scrub record.
func TestAgentEventsAndScrubs(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddAgent(twoNodeAgent()))
	want := `
# HELP mdcluster_events_dropped_total Events lost because the queue to the lock service was full (emission never waits).
# TYPE mdcluster_events_dropped_total counter
mdcluster_events_dropped_total 3
# HELP mdcluster_events_failed_total Events the lock service refused after retries.
# TYPE mdcluster_events_failed_total counter
mdcluster_events_failed_total 0
# HELP mdcluster_events_total Events this node emitted for the cluster's event log, by type.
# TYPE mdcluster_events_total counter
mdcluster_events_total{type="array_assembled"} 1
mdcluster_events_total{type="scrub_started"} 2
# HELP mdcluster_scrub_last_finished_timestamp_seconds When an array's last complete scrub finished (Unix time).
# TYPE mdcluster_scrub_last_finished_timestamp_seconds gauge
mdcluster_scrub_last_finished_timestamp_seconds{array="shared1"} 1.7672256e+09
# HELP mdcluster_scrub_mismatches Sectors md found different in an array by its last scrub (so far, while it runs).
# TYPE mdcluster_scrub_mismatches gauge
mdcluster_scrub_mismatches{array="data5"} 8
mdcluster_scrub_mismatches{array="shared1"} 0
# HELP mdcluster_scrub_progress_ratio Fraction of an array checked by its running or paused scrub (1 once done).
# TYPE mdcluster_scrub_progress_ratio gauge
mdcluster_scrub_progress_ratio{array="data5",node="node1"} 0.25
mdcluster_scrub_progress_ratio{array="shared1",node="node2"} 1
# HELP mdcluster_scrub_state An array's scrub as the cluster state records it: 1 for its state (running, paused, done, cancelled), 0 for the others.
# TYPE mdcluster_scrub_state gauge
mdcluster_scrub_state{array="data5",state="cancelled"} 0
mdcluster_scrub_state{array="data5",state="done"} 0
mdcluster_scrub_state{array="data5",state="paused"} 0
mdcluster_scrub_state{array="data5",state="running"} 1
mdcluster_scrub_state{array="shared1",state="cancelled"} 0
mdcluster_scrub_state{array="shared1",state="done"} 1
mdcluster_scrub_state{array="shared1",state="paused"} 0
mdcluster_scrub_state{array="shared1",state="running"} 0
`
	names := []string{"mdcluster_events_dropped_total", "mdcluster_events_failed_total", "mdcluster_events_total",
		"mdcluster_scrub_last_finished_timestamp_seconds", "mdcluster_scrub_mismatches", "mdcluster_scrub_progress_ratio", "mdcluster_scrub_state"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}
