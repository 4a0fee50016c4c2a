// Package metrics is what a Prometheus scrape of mdclusterd shows: the kernel md arrays
// (node_exporter-compatible node_md_* figures and the same figures as mdcluster_md_*), sync
// progress, write-intent bitmaps read from disk (dirty chunks and events per slot), md-cluster
// and DLM lockspace state, and the agent's own view (session, members, leases, reconcile
// counters).
//
// Each part is a collector with one method, update(ch) error, run by a [Set] that also reports
// how long each took and whether it succeeded (mdcluster_scrape_collector_*). Missing md or DLM
// directories are not failures: the collector logs at debug level and reports nothing.
// Every path is rooted where the caller says, so tests read trees captured from a real kernel.
//
// [Serve] serves a registry with prometheus/exporter-toolkit, which adds TLS and basic auth from a
// web configuration file (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md).
package metrics
