// Package doctor is mdclusterd's preflight: it checks that a node, and the cluster it belongs
// to, can run the agent safely, and says what to do about every check that fails.
//
// Each node's local facts (kernel modules, watchdog, udev rules, mdadm.conf, the arrays' member
// devices, its clocks against its peers, the lock service as it sees it) are gathered where they
// are (Gather) and published in the lock service, where the other nodes' doctor runs read them:
// the cluster-wide checks (same disks behind the same paths, one cluster name, every node
// reporting) compare the latest report of every node (Evaluate, a pure function of the facts).
// The agent is not involved: the doctor works before it first runs, and beside it.
package doctor

import (
	"fmt"
	"time"
)

// Status is a check's outcome. Only StatusFail makes `mdclusterd doctor` exit 1.
type Status string

// The outcomes.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "FAIL"
	StatusSkip Status = "skip" // not applicable here
)

// Result is one row of the report.
type Result struct {
	Check  string `json:"check"`
	Node   string `json:"node"`
	Status Status `json:"result"`
	Detail string `json:"detail"`
	// Advice says what to do; empty when nothing needs doing.
	Advice string `json:"advice,omitempty"`
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == StatusFail {
			return true
		}
	}
	return false
}

// Facts is what one node found about itself: what it publishes for the others.
type Facts struct {
	Node    string `json:"node"`
	Cluster string `json:"cluster"`
	// Written is the node's wall clock when it gathered the facts (staleness only: the clock
	// check measures offsets directly).
	Written time.Time `json:"written"`
	Version string    `json:"version"`
	Engine  string    `json:"engine"`
	TTL     Duration  `json:"ttl"`
	Margin  Duration  `json:"margin"`
	// ElectionTimeout is the etcd election timeout of the member this node runs (etcd-cluster).
	ElectionTimeout Duration      `json:"election_timeout,omitempty"`
	Modules         []ModuleFact  `json:"modules"`
	Watchdog        WatchdogFact  `json:"watchdog"`
	Udev            UdevFact      `json:"udev"`
	MdadmConf       MdadmConfFact `json:"mdadm_conf"`
	Arrays          []ArrayFact   `json:"arrays"`
	Lock            LockFact      `json:"lock"`
	Clock           []ClockFact   `json:"clock"`
}

// ModuleFact is one kernel module md clusters need.
type ModuleFact struct {
	Name string `json:"name"`
	Err  string `json:"err,omitempty"` // why it could not be loaded
}

// WatchdogFact is the watchdog device the agent pets.
type WatchdogFact struct {
	Device   string   `json:"device"` // "" when self-fencing is off
	Identity string   `json:"identity,omitempty"`
	Want     Duration `json:"want"`               // the timeout the agent asks for
	Accepted Duration `json:"accepted,omitempty"` // what the driver took
	HeldBy   string   `json:"held_by,omitempty"`  // "mdclusterd (pid 412)" when open
	NoWayOut bool     `json:"nowayout,omitempty"`
	// Armed: counting down with no process holding it (not opened).
	Armed bool   `json:"armed,omitempty"`
	Err   string `json:"err,omitempty"`
}

// UdevFact is how udev treats the agent's arrays.
type UdevFact struct {
	// Rule is the path of the package's rule udev reads ("" when none), Masked when a file of
	// the same name in /etc or /run replaces it with something else.
	Rule   string `json:"rule,omitempty"`
	Masked string `json:"masked,omitempty"`
	// MdadmConfirm is mdadm's 69-md-clustered-confirm-device.rules when present.
	MdadmConfirm string `json:"mdadm_confirm,omitempty"`
	// Undeferred lists members of exclusive arrays that udev has not marked as the agent's
	// (SYSTEMD_READY=0): mdadm's incremental assembly may run their array.
	Undeferred []string `json:"undeferred,omitempty"`
}

// MdadmConfFact is what mdadm's own configuration would assemble.
type MdadmConfFact struct {
	Files []string `json:"files,omitempty"`
	// Listed names exclusive arrays that an ARRAY line lists without <ignore>.
	Listed []string `json:"listed,omitempty"`
	// Initramfs names the exclusive arrays the initramfs would assemble at boot: mdadm's
	// initramfs hook is installed and no `ARRAY <ignore>` line names them.
	Initramfs []string `json:"initramfs,omitempty"`
	// InitramfsStale is this kernel's initramfs image when mdadm.conf changed after it was
	// built.
	InitramfsStale string `json:"initramfs_stale,omitempty"`
	Err            string `json:"err,omitempty"`
}

// ArrayFact is one configured array's member devices on this node.
type ArrayFact struct {
	UUID    string       `json:"uuid"`
	Name    string       `json:"name"`
	Mode    string       `json:"mode"`
	Devices []DeviceFact `json:"devices"`
}

// DeviceFact is one configured member path.
type DeviceFact struct {
	Path   string `json:"path"`
	Target string `json:"target,omitempty"` // what the path resolves to
	// ArrayUUID and DeviceUUID come from the md v1 superblock on the device (mdadm's form);
	// empty without one.
	ArrayUUID  string `json:"array_uuid,omitempty"`
	DeviceUUID string `json:"device_uuid,omitempty"`
	// Cluster is the cluster name in the member's clustered bitmap (md-cluster arrays).
	Cluster string `json:"cluster,omitempty"`
	Err     string `json:"err,omitempty"`
}

// LockFact is the lock service as this node reaches it.
type LockFact struct {
	Endpoints []string `json:"endpoints"`
	Members   int      `json:"members"`
	Leader    string   `json:"leader,omitempty"` // the etcd member that leads, by name
	// Quorum: a linearizable read went through (the cluster has a leader and a majority).
	Quorum  bool     `json:"quorum"`
	Latency Duration `json:"latency"`     // median of a few writes
	Max     Duration `json:"max_latency"` // the slowest of them
	Err     string   `json:"err,omitempty"`
}

// ClockFact is this node's wall clock against one peer's, measured over the network.
type ClockFact struct {
	Peer   string   `json:"peer"`
	Offset Duration `json:"offset"` // peer minus this node
	RTT    Duration `json:"rtt"`
	Err    string   `json:"err,omitempty"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", d.String())), nil }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("duration %s: want a string like \"1.5s\"", b)
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
