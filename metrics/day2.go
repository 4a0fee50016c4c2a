package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"mdcluster.dev/mdcluster/api"
)

// The event log's and the scrubs' figures, part of the agent collector.
var (
	eventsDesc        = agentDesc("events_total", "Events this node emitted for the cluster's event log, by type.", "type")
	eventsDroppedDesc = agentDesc("events_dropped_total", "Events lost because the queue to the lock service was full (emission never waits).")
	eventsFailedDesc  = agentDesc("events_failed_total", "Events the lock service refused after retries.")
	scrubStateDesc    = agentDesc("scrub_state", "An array's scrub as the cluster state records it: 1 for its state (running, paused, done, cancelled), 0 for the others.",
		"array", "state")
	scrubProgressDesc   = agentDesc("scrub_progress_ratio", "Fraction of an array checked by its running or paused scrub (1 once done).", "array", "node")
	scrubMismatchesDesc = agentDesc("scrub_mismatches", "Sectors md found different in an array by its last scrub (so far, while it runs).", "array")
	scrubFinishedDesc   = agentDesc("scrub_last_finished_timestamp_seconds", "When an array's last complete scrub finished (Unix time).", "array")

	day2Descs = []*prometheus.Desc{eventsDesc, eventsDroppedDesc, eventsFailedDesc, scrubStateDesc, scrubProgressDesc,
		scrubMismatchesDesc, scrubFinishedDesc}
)

// scrubStates are the states a scrub record can be in: one 0/1 series each.
var scrubStates = []string{"running", "paused", "done", "cancelled"}

// eventCounters sends the event log's counters.
func eventCounters(ch chan<- prometheus.Metric, n api.Counters) {
	types := make([]string, 0, len(n.Events))
	for t := range n.Events {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		counter(ch, eventsDesc, float64(n.Events[t]), t)
	}
	counter(ch, eventsDroppedDesc, float64(n.EventsDropped))
	counter(ch, eventsFailedDesc, float64(n.EventsFailed))
}

// scrubFigures sends every array's scrub record.
func scrubFigures(ch chan<- prometheus.Metric, scrubs []api.ScrubStatus) {
	for _, s := range scrubs {
		for _, state := range scrubStates {
			gauge(ch, scrubStateDesc, boolf(s.State == state), s.Array, state)
		}
		if s.Total > 0 {
			gauge(ch, scrubProgressDesc, float64(s.Position)/float64(s.Total), s.Array, s.Node)
		}
		gauge(ch, scrubMismatchesDesc, float64(s.Mismatches), s.Array)
		if s.State == "done" && !s.Finished.IsZero() {
			gauge(ch, scrubFinishedDesc, float64(s.Finished.UnixNano())/1e9, s.Array)
		}
	}
}
