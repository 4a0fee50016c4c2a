package cli

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/mdcluster/api"
)

// reportTimeout bounds the report of a command to the agent: the command is done, and an agent
// that does not answer must not hold mdcadm up.
const reportTimeout = 3 * time.Second

// reported runs a changing command (do) and reports it to the agent for the cluster's event log:
// the arguments, the exit code, whether mdadm ran, and who asked — the real and effective uid,
// the audit login uid (which survives sudo) and sudo's user. The agent adds the pid and uid
// the kernel gives for the caller.
func (e *Env) reported(c *Config, args []string, do func() int) int {
	array := ""
	if p, err := e.makePlan(c); err == nil {
		for _, t := range p.targets {
			if array = t.uuid; array == "" {
				array = t.name
			}
			if array != "" {
				break
			}
		}
	}
	for _, d := range c.Devices {
		if array != "" {
			break
		}
		if t, _, err := e.runningTarget(d.Name); err == nil {
			array = t.uuid
		}
	}
	e.mdadmRan, e.viaAgent = false, false
	rc := do()
	outcome := "refused"
	switch {
	case e.viaAgent:
		outcome = "done by mdclusterd"
	case e.mdadmRan:
		outcome = "mdadm ran"
	}
	f := map[string]string{"args": strings.Join(args, " "), "rc": strconv.Itoa(rc), "uid": strconv.Itoa(os.Getuid()),
		"euid": strconv.Itoa(os.Geteuid()), "pid": strconv.Itoa(os.Getpid()), "mode": c.Mode.String()}
	if b, err := os.ReadFile("/proc/self/loginuid"); err == nil {
		f["loginuid"] = strings.TrimSpace(string(b))
	}
	if u := os.Getenv("SUDO_USER"); u != "" {
		f["sudo_user"] = u
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	_ = api.NewClient(e.Socket).Report(ctx, api.ReportRequest{Type: api.EventMdcadm, Array: array, Reason: outcome, Fields: f})
	return rc
}
