package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"mdcluster.dev/mdcluster/api"
)

// isAction reports whether c is `mdadm --action=ACTION md-device...`.
func isAction(c *Config) bool {
	return c.Mode == ModeMisc && c.DevMode == optAction && c.Help == 0 && !c.Version
}

// actionMode runs --action. On an array the agent manages, check and repair start a scrub
// under the array's resync lease and a resync slot (the agent writes sync_action, and records
// the scrub so that it resumes elsewhere if this node dies), idle cancels it; frozen is the
// agent's to decide and is refused. On other arrays, idle and frozen (which only stop a sync)
// run mdadm; check and repair are refused, as every unguarded change is.
func actionMode(c *Config, args []string, noGuard bool, env *Env) int {
	action, _ := c.optArg(optAction)
	if len(c.Devices) == 0 {
		env.errf("No devices given.\n")
		return 2
	}
	if env.Euid != 0 {
		env.errf("must be super-user to perform this action\n")
		return 1
	}
	if noGuard {
		return env.runMdadm(args, nil, nil)
	}
	less := action == "idle" || action == "frozen"
	cl := api.NewClient(env.Socket)
	st, agentErr := status(cl)
	rc := 0
	for _, d := range c.Devices {
		t, _, err := env.runningTarget(d.Name)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v; not changing it\n", Prog, err)
			rc = 1
			continue
		}
		a, managedHere := api.ArrayStatus{}, false
		if agentErr == nil {
			a, managedHere = managed(&st, t)
		}
		switch {
		case !managedHere && less:
			if r := env.runMdadm([]string{"--action=" + action, d.Name}, nil, nil); r != 0 {
				rc = r
			}
		case agentErr != nil:
			rc = env.refused(refuse(1, "mdclusterd does not answer on %s (%s); not starting %s on %s", env.Socket, errText(agentErr), action, d.Name))
		case !managedHere:
			rc = env.refused(refuse(1, "array %s (%s) is not managed by mdclusterd on %s; pass --no-cluster-guard to run mdadm on it unguarded; not starting %s",
				t.label(), t.from, st.Node, action))
		case action == "frozen":
			rc = env.refused(refuse(1, "array %s is managed by mdclusterd, which decides when it syncs (--action=idle cancels a scrub); not freezing it", a.Name))
		default:
			if r := env.scrub(cl, a, action); r != 0 {
				rc = r
			}
		}
	}
	return rc
}

// scrub asks the agent to start or cancel a scrub and says so when it has to wait.
func (e *Env) scrub(cl *api.Client, a api.ArrayStatus, action string) int {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	rep, err := cl.Scrub(ctx, api.ScrubRequest{Array: a.UUID, Action: action, Owner: fmt.Sprintf("mdcadm pid %d uid %d", os.Getpid(), os.Getuid())})
	if err != nil {
		var re *api.RemoteError
		if errors.As(err, &re) && re.Code == 409 {
			return e.refused(refuse(1, "array %s is scrubbed or run by %s; not changing its scrub here", a.Name, re.Body.Holder))
		}
		return e.refused(refuse(1, "array %s: mdclusterd refused --action=%s: %s", a.Name, action, errText(err)))
	}
	e.viaAgent = true
	if rep.State == "queued" {
		fmt.Fprintf(e.Stderr, "%s: %s of %s queued: %s\n", Prog, action, a.Name, rep.Message)
	}
	return 0
}
