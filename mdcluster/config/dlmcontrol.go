package config

import (
	"fmt"
	"time"
)

// DLM control plane modes.
const (
	ControlOff        = "off"        // nobody needs the kernel DLM here (exclusive arrays only)
	ControlMdclusterd = "mdclusterd" // this agent plays dlm_controld, members agreed through etcd
	ControlExternal   = "external"   // corosync and dlm_controld run the kernel DLM
)

// DLMControl configures who runs the kernel DLM's control plane that md-cluster needs.
type DLMControl struct {
	Mode string `yaml:"mode"`
	// FenceCommand fences a failed node before its lockspaces are recovered (STONITH); run with
	// /bin/sh -c, FENCE_NODE_ID and FENCE_NODE_ADDRESS set; recovery waits for exit status 0.
	FenceCommand string `yaml:"fence_command"`
	// FenceWait, without a fence command: how long peers wait after a node's session expired
	// before they recover its lockspaces. 0 means leases.watchdog_margin. Its watchdog reset it
	// at least its own margin before the expiry already; this covers the reset itself (a slow
	// softdog, I/O in flight in a controller). At most leases.ttl: the clustered arrays' I/O
	// waits through it at every failover, and a longer wait buys nothing the watchdog does not
	// already guarantee (a value like 5m with a 5s TTL is a typo).
	FenceWait Duration `yaml:"fence_wait"`
}

// EffectiveFenceWait is FenceWait, or the watchdog margin when FenceWait is 0.
func (c *Config) EffectiveFenceWait() time.Duration {
	if c.DLMControl.FenceWait.Duration > 0 {
		return c.DLMControl.FenceWait.Duration
	}
	return c.Leases.WatchdogMargin.Duration
}

func (c *Config) validateDLMControl() error {
	d := c.DLMControl
	switch d.Mode {
	case ControlOff, ControlExternal:
	case ControlMdclusterd:
		if c.Node.Address == "" {
			return keyErr("node.address", "", "dlm_control.mode mdclusterd needs this node's cluster address")
		}
		if c.LockEngine.Type == EngineKernel {
			return keyErr("dlm_control.mode", d.Mode, "the kernel-dlm lock engine needs an external control plane (corosync and dlm_controld)")
		}
		if c.Leases.Watchdog == "" && d.FenceCommand == "" {
			return keyErr("dlm_control.fence_command", "", "without leases.watchdog a failed node can only be fenced by a command")
		}
	default:
		return keyErr("dlm_control.mode", d.Mode, "want off, mdclusterd or external")
	}
	if w, ttl := d.FenceWait.Duration, c.Leases.TTL.Duration; w < 0 || w > ttl {
		return keyErr("dlm_control.fence_wait", w.String(), fmt.Sprintf("want 0 (leases.watchdog_margin) to leases.ttl (%s)", ttl))
	}
	return nil
}
