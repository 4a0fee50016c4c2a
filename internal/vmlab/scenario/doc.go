// Package scenario holds the lab's scenarios on the real kernel. Each one drives running guests
// step by step (every step with its own timeout), checks what the kernel did, and returns an
// error that says which check failed. The VM test suite and `mdlab demo` run the same code.
//
// Each scenario lives in a file named after it (ExclusiveFailover in exclusive_failover.go, its
// lab options beside it). What several scenarios share lives in the setup_*.go files:
//
//   - setup_steps.go: guest steps, checks, md sysfs reads, sync waits, O_DIRECT reads and writes;
//   - setup_bitmap.go: the one reader of mdadm --examine-bitmap's text, and waits on it;
//   - setup_etcd.go, setup_leasewatch.go: the etcd on the host, and watching a lease in it;
//   - setup_agent.go: agent configurations, starting agents, reading their status and events;
//   - setup_controld.go, setup_corosync.go: starting mdclusterd's DLM control plane (or
//     corosync and dlm_controld for comparison), clustered RAID1 creation and crash recovery;
//   - setup_mdcluster_watch.go: guest-side watchers of md-cluster arrays;
//   - setup_scrape.go: scrapes of the exporter compared with the kernel;
//   - setup_scrub.go: arrays and settings the scrub scenarios share;
//   - setup_ha.go: the HA lab (Debian package, OCF agent) for the Pacemaker scenarios.
package scenario
