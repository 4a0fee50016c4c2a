package config

import (
	"path/filepath"
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
	// FenceWait, without a fence command: how long after a node's lease expired its watchdog
	// is trusted to have reset it. 0 means leases.watchdog_margin.
	FenceWait Duration `yaml:"fence_wait"`
	// LeaseFile keeps the control plane's lease id so a restarted agent resumes it.
	LeaseFile string `yaml:"lease_file"`
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
		if !filepath.IsAbs(d.LeaseFile) {
			return keyErr("dlm_control.lease_file", d.LeaseFile, "want an absolute path")
		}
	default:
		return keyErr("dlm_control.mode", d.Mode, "want off, mdclusterd or external")
	}
	if d.FenceWait.Duration < 0 || d.FenceWait.Duration > 5*time.Minute {
		return keyErr("dlm_control.fence_wait", d.FenceWait.String(), "want 0 (the watchdog margin) to 5m")
	}
	return nil
}
