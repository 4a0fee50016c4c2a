// Package vmlab runs mdcluster's real-kernel test lab: Debian's kernel under QEMU (TCG), one to
// three guests sharing raw disk images, a private Ethernet between them relayed by a hub on the
// host's loopback, and QEMU user networking so guests reach services on the host's loopback.
//
// The host drives each guest through a lab agent (Guest, run by the guest's init) over a
// virtio-serial port: it sends one JSON request per line and reads one JSON reply per line, so
// every scenario step has a timeout and a machine-readable result.
package vmlab

import (
	"encoding/json"
	"fmt"
)

// CtlPortName is the virtio-serial port name the guest agent looks for.
const CtlPortName = "mdlab.ctl"

// Request ops understood by the guest agent.
const (
	// OpExec runs Request.Script with /bin/sh -c and returns its exit code and output.
	OpExec = "exec"
	// OpCrash panics the guest kernel at once (sysrq c): no flush, no md reboot notifier, so
	// md bitmaps keep their dirty bits as after a power cut. There is no reply.
	OpCrash = "crash"
	// OpPowerOff ends the agent; the guest's init syncs and powers off.
	OpPowerOff = "poweroff"
	// OpSetTime sets the guest's wall clock to Request.TimeNS (the host's, when it sent the
	// request): the lab's stand-in for NTP, since a guest reads the RTC in whole seconds.
	OpSetTime = "settime"
)

// Request is one line the host writes to the guest agent.
type Request struct {
	ID        uint64   `json:"id"`
	Op        string   `json:"op"`
	Script    string   `json:"script,omitempty"`
	Env       []string `json:"env,omitempty"`
	TimeoutMS int64    `json:"timeout_ms,omitempty"`
	TimeNS    int64    `json:"time_ns,omitempty"`
}

// Message is one line the guest agent writes to the host: a reply to a request (ID != 0) or an
// event (Event != "", e.g. "hello" when the agent starts).
type Message struct {
	ID    uint64 `json:"id,omitempty"`
	Event string `json:"event,omitempty"`
	Node  int    `json:"node,omitempty"`
	// RC is the exit code of an exec; -1 when the script could not run or was killed.
	RC     int    `json:"rc"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Err says why a request failed inside the agent (bad op, timeout, spawn error).
	Err string `json:"err,omitempty"`
	// Uptime is the guest's /proc/uptime in seconds when the message was written.
	Uptime float64 `json:"uptime"`
	// Kernel is the guest's kernel release (hello only).
	Kernel string `json:"kernel,omitempty"`
}

// send writes one request line to the guest.
func (v *VM) send(r Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("node %d: encode request: %w", v.Node, err)
	}
	v.wmu.Lock()
	defer v.wmu.Unlock()
	if _, err := v.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("node %d: send request: %w", v.Node, err)
	}
	return nil
}

// expect registers a new request ID whose reply the reader delivers on ch; done forgets it.
func (v *VM) expect() (id uint64, ch chan Message, done func()) {
	ch = make(chan Message, 1)
	v.mu.Lock()
	v.nextID++
	id = v.nextID
	v.pending[id] = ch
	v.mu.Unlock()
	return id, ch, func() {
		v.mu.Lock()
		delete(v.pending, id)
		v.mu.Unlock()
	}
}
