// Package api is mdclusterd's local API: JSON over HTTP on a Unix socket that only root may use
// (mode 0600, and the peer's uid is checked). mdcadm asks it for leases before it runs mdadm,
// and operators read the cluster's state from it.
package api

import "time"

// Lease kinds mdcadm and the agent take on an array.
const (
	// KindActivation (EX) lets its holder assemble an exclusive array.
	KindActivation = "activation"
	// KindRecovery lets its holder add a member and rebuild it.
	KindRecovery = "recovery"
	// KindResync lets its holder resync the array.
	KindResync = "resync"
	// KindAdmin serialises changes to an array's shape (grow, level change).
	KindAdmin = "admin"
)

// Status is the agent's view of the cluster.
type Status struct {
	Node    string `json:"node"`
	NodeID  int    `json:"node_id"`
	Cluster string `json:"cluster"`
	Engine  string `json:"engine"`
	// DLMControl is dlm_control.mode: who runs the kernel DLM's control plane ("mdclusterd":
	// this agent, with no corosync, so mdadm needs mdcluster's libcmap shim for the cluster
	// name; "external": corosync and dlm_controld; "off"). Added for mdcadm, which must not read
	// the agent's configuration file.
	DLMControl string        `json:"dlm_control,omitempty"`
	Session    SessionInfo   `json:"session"`
	Members    []Member      `json:"members"`
	Arrays     []ArrayStatus `json:"arrays"`
	Leases     []Lease       `json:"leases"`
	Resyncs    []Resync      `json:"resyncs"`
	// Scrubs are the arrays' scrubs as the cluster state records them (running, paused, last
	// finished).
	Scrubs []ScrubStatus `json:"scrubs,omitempty"`
	// Actions counts what the agent did on md and on the locks since it started, by action
	// (assemble, stop_unleased, sync_frozen, …): the same figures as the metrics.
	Actions map[string]uint64 `json:"actions,omitempty"`
	// Started is when this agent process started. A reload runs a new binary in the same
	// process (same PID): `mdclusterd reload` waits for a status with another start time.
	Started  time.Time `json:"started"`
	Observed time.Time `json:"observed"`
}

// SessionInfo is this node's session in the lock engine.
type SessionInfo struct {
	Valid bool          `json:"valid"`
	TTL   time.Duration `json:"ttl_ns"`
	// Resumed: this process resumed the session its predecessor left (a restart).
	Resumed bool `json:"resumed,omitempty"`
	// WatchdogTimeout is the timeout the watchdog driver accepted (0: no self-fencing).
	WatchdogTimeout time.Duration `json:"watchdog_timeout_ns"`
	// SilenceTolerated is how long the lock service may be silent before this node resets
	// itself (or, with no watchdog, stops its arrays' I/O), in the worst case.
	SilenceTolerated time.Duration `json:"silence_tolerated_ns"`
}

// Member is a node that has a live session.
type Member struct {
	Name string `json:"name"`
	ID   int    `json:"id"`
}

// ArrayStatus is one managed array as this node sees it.
type ArrayStatus struct {
	UUID       string `json:"uuid"`
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Device     string `json:"device,omitempty"` // md device here, e.g. md127; "" if not assembled
	Level      string `json:"level,omitempty"`
	State      string `json:"state,omitempty"`
	SyncAction string `json:"sync_action,omitempty"`
	Degraded   int    `json:"degraded"`
	// ActiveOn names the node holding the activation lease (exclusive arrays).
	ActiveOn string `json:"active_on,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// Lease is a lease held in the cluster.
type Lease struct {
	Array  string `json:"array"`
	Kind   string `json:"kind"`
	Holder string `json:"holder"`
	// Token is the lease's fencing token; 0 when another node holds it (only the holder knows).
	Token uint64 `json:"token"`
}

// Resync is a resync or recovery running or waiting somewhere in the cluster.
type Resync struct {
	Array    string  `json:"array"`
	Node     string  `json:"node"`
	Action   string  `json:"action"` // resync, recover, check, repair
	Progress float64 `json:"progress"`
	Waiting  bool    `json:"waiting"` // held back: no lease or over the concurrency limit
	// Leased: the node runs it under its resync lease (exclusive arrays, or for mdcadm);
	// md-cluster's own syncs run under the kernel's resync lock instead.
	Leased bool `json:"leased,omitempty"`
}

// AcquireRequest asks for a lease on an array for a caller such as mdcadm.
type AcquireRequest struct {
	Array string `json:"array"` // UUID or name
	Kind  string `json:"kind"`
	// Owner says who asks (e.g. "mdcadm pid 1234"); it appears in status.
	Owner string `json:"owner"`
}

// Grant is a lease the agent holds for a caller until it is released (or the agent's session
// ends). The caller passes Token along; the agent re-checks it before acting on md.
type Grant struct {
	Array string `json:"array"`
	Kind  string `json:"kind"`
	Token uint64 `json:"token"`
}

// ReleaseRequest gives a lease back.
type ReleaseRequest struct {
	Array string `json:"array"`
	Kind  string `json:"kind"`
	Token uint64 `json:"token"`
}

// Error is the body of every non-2xx reply.
type Error struct {
	Error string `json:"error"`
	// Holder names the node holding a contended lease, when that is why the request failed.
	Holder string `json:"holder,omitempty"`
}

// Counters are the agent's running totals, for status and metrics.
type Counters struct {
	Reconciles       uint64
	ReconcileErrors  uint64
	Actions          map[string]uint64
	NewDiskConfirmed uint64
	NewDiskNacked    uint64
	// Events counts the events this node emitted, by type; EventsDropped those lost because
	// the queue was full (emission never waits), EventsFailed those the lock service refused.
	Events        map[string]uint64
	EventsDropped uint64
	EventsFailed  uint64
}
