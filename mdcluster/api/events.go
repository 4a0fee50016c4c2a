package api

import (
	"context"
	"encoding/json"
	"time"
)

// Event is one entry of the cluster's event log: what a node decided or saw, kept by the lock
// service (etcd) with bounded retention and served by every node.
type Event struct {
	// Seq orders the event among every event of the cluster: the store revision of its write.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"` // the emitting node's wall clock
	Node string    `json:"node"`
	Type string    `json:"type"`
	// Array and UUID name the array the event is about, if any.
	Array  string `json:"array,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Fields carry the details of each type (a lease's kind and token, mdcadm's arguments, a
	// scrub's mismatch count…), as strings so that every consumer reads them alike.
	Fields map[string]string `json:"fields,omitempty"`
}

// Event types. The metrics count events by these names.
const (
	EventLeaseGranted   = "lease_granted"   // an activation lease was taken (fields: kind, token)
	EventLeaseLost      = "lease_lost"      // a lease is no longer in force while held
	EventLeaseReleased  = "lease_released"  // a lease was given back
	EventAssembled      = "array_assembled" // the agent assembled an exclusive array
	EventStopped        = "array_stopped"   // an array was stopped; Reason says why
	EventSessionOpened  = "session_opened"  // the node's session in the lock engine (fields: resumed)
	EventSessionLost    = "session_lost"    // the node stopped trusting its session (fence point)
	EventFenceStarted   = "fence_started"   // the DLM control plane waits for a failed node's fence
	EventFenceDone      = "fence_done"      // the failed node can no longer write
	EventSlotRecovery   = "slot_recovery"   // a failed node left the lockspaces: md-cluster recovers its slot
	EventNewDiskConfirm = "newdisk_confirmed"
	EventNewDiskNack    = "newdisk_nacked"
	EventResyncHeld     = "resync_held"     // md wanted to sync without the resync lease: frozen
	EventResyncStarted  = "resync_started"  // the resync lease and a slot are held: md may sync
	EventResyncFinished = "resync_finished" // md's sync ended: the lease went back
	EventScrubStarted   = "scrub_started"   // fields: action, from (sector), requested
	EventScrubPaused    = "scrub_paused"    // stopped before the end (window, freeze): resumes later
	EventScrubFinished  = "scrub_finished"  // fields: mismatches
	EventScrubMismatch  = "scrub_mismatches"
	EventScrubCancelled = "scrub_cancelled"
	EventMdcadm         = "mdcadm_action"  // a guarded mdcadm command (fields: uid, args, rc)
	EventMonitorAlert   = "monitor_alert"  // mdcadm --monitor delivered an mdadm event
	EventConfigChanged  = "config_changed" // the node started with a configuration unlike its last one
)

// ReportRequest is an event a local program (mdcadm) reports to the agent for the log. The agent
// adds the node, the time and the caller's pid and uid as the kernel gives them.
type ReportRequest struct {
	Type   string            `json:"type"`
	Array  string            `json:"array,omitempty"`
	Reason string            `json:"reason,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Peer is the process at the other end of the API socket, as SO_PEERCRED reports it.
type Peer struct {
	PID, UID int
}

// EventBackend is a Backend that keeps the event log.
type EventBackend interface {
	// Events sends the events after seq since (at most limit of them, 0: all kept), then, with
	// follow, every new one until ctx ends. send's error ends the call.
	Events(ctx context.Context, since int64, limit int, follow bool, send func(Event) error) error
	// Report logs an event for a local program.
	Report(ctx context.Context, r ReportRequest, peer Peer) error
}

// MonitorHoldRequest asks for the delivery lease of a shared array's monitor events: the caller
// holds it as long as its request is open.
type MonitorHoldRequest struct {
	Array string `json:"array"` // UUID or name
	Owner string `json:"owner"`
}

// MonitorGrant is sent once the delivery lease is held: its fencing token and the delivery
// cursor as the last holder left it (Rev 0: none yet).
type MonitorGrant struct {
	Token  uint64          `json:"token"`
	Rev    int64           `json:"rev"`
	Cursor json.RawMessage `json:"cursor,omitempty"`
	// Lost, in a later message, says the lease is no longer held: stop delivering.
	Lost string `json:"lost,omitempty"`
}

// CursorRequest advances a delivery cursor: written only while Token is the current delivery
// lease and the cursor is still at Rev.
type CursorRequest struct {
	Array  string          `json:"array"`
	Token  uint64          `json:"token"`
	Rev    int64           `json:"rev"`
	Cursor json.RawMessage `json:"cursor"`
}

// CursorReply is the cursor's new revision.
type CursorReply struct {
	Rev int64 `json:"rev"`
}

// MonitorBackend is a Backend that arbitrates mdcadm --monitor's delivery of shared arrays.
type MonitorBackend interface {
	// HoldMonitor waits for the delivery lease, calls granted with it, and holds it until ctx
	// ends (the caller went away) or the lease is lost (granted is called again with Lost).
	HoldMonitor(ctx context.Context, r MonitorHoldRequest, granted func(MonitorGrant) error) error
	SaveCursor(ctx context.Context, r CursorRequest) (CursorReply, error)
}

// Scrub actions.
const (
	ScrubCheck  = "check"
	ScrubRepair = "repair"
	ScrubIdle   = "idle"
)

// ScrubRequest starts (check, repair) or cancels (idle) a scrub of an array.
type ScrubRequest struct {
	Array  string `json:"array"`
	Action string `json:"action"`
	Owner  string `json:"owner"`
}

// ScrubReply says what became of a ScrubRequest.
type ScrubReply struct {
	// State: "running" (md scrubs under the resync lease), "queued" (waiting for the lease or a
	// slot; it starts without another request), "idle" (cancelled, or nothing ran).
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// ScrubBackend is a Backend that runs scrubs under the leases.
type ScrubBackend interface {
	Scrub(ctx context.Context, r ScrubRequest) (ScrubReply, error)
}

// ScrubStatus is an array's scrub as the cluster state records it.
type ScrubStatus struct {
	Array      string    `json:"array"`
	UUID       string    `json:"uuid"`
	State      string    `json:"state"` // running, paused, done, cancelled
	Action     string    `json:"action"`
	Node       string    `json:"node"`
	Position   uint64    `json:"position"` // sectors checked
	Total      uint64    `json:"total"`
	Mismatches uint64    `json:"mismatches"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished,omitzero"`
}
