package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

// refusal ends a guarded command before mdadm runs: one line, an exit code.
type refusal struct {
	code int
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code int, format string, a ...any) *refusal {
	return &refusal{code: code, msg: fmt.Sprintf(format, a...)}
}

// held is a lease mdcadm asked the agent for.
type held struct {
	arr   api.ArrayStatus
	grant api.Grant
	fresh bool // activation: the agent did not hold it before this command
}

// apiTimeout bounds each request to the agent.
const apiTimeout = 30 * time.Second

// guarded runs a changing command: leases first, then mdadm with args,
// then the leases that must not outlive the command go back. SIGINT,
// SIGTERM and SIGHUP do not end it early (see interrupts).
func guarded(c *Config, args []string, noGuard bool, env *Env) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := catchInterrupts(cancel)
	defer in.stop()
	if noGuard {
		return env.runMdadm(args, env.shimEnv(c.Mode, env.shimStatus(c.Mode)), in)
	}
	p, err := env.makePlan(c)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v; not running mdadm\n", Prog, err)
		return 1
	}
	if r := env.clusterRefusal(c, p); r != nil {
		return env.refused(r)
	}
	cl := api.NewClient(env.Socket)
	st, err := status(cl)
	if err != nil {
		if p.lessOnly {
			return env.runMdadm(args, nil, in) // doing less is always safe
		}
		return env.refused(refuse(1, "mdclusterd does not answer on %s (%v); not %s", env.Socket, errText(err), p.verb))
	}
	extra := env.shimEnv(c.Mode, &st)
	hs, r := env.acquire(cl, &st, p)
	if r != nil {
		return env.refused(r)
	}
	unlock := func() {}
	if st.Engine == config.EngineKernel && !p.mdadmLocks && env.AdminLock != nil {
		if unlock, err = env.AdminLock(ctx, st.Cluster); err != nil {
			env.giveBack(cl, hs, false)
			if s := in.caught(); s != nil {
				return env.interrupted(s, p.verb)
			}
			return env.refused(refuse(1, "%v; not %s", err, p.verb))
		}
	}
	if s := in.caught(); s != nil {
		unlock()
		env.giveBack(cl, hs, false)
		return env.interrupted(s, p.verb)
	}
	rc := env.runMdadm(args, extra, in)
	unlock()
	env.giveBack(cl, hs, rc == 0)
	if rc == 0 {
		if err := env.afterStop(cl, &st, p); err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
			return 1
		}
	}
	return rc
}

// interrupted ends a guarded command that a signal stopped before mdadm
// ran, with the shell's code for death by that signal.
func (e *Env) interrupted(s os.Signal, verb string) int {
	fmt.Fprintf(e.Stderr, "%s: interrupted by %s; leases given back; not %s\n", Prog, signalName(s), verb)
	return signalCode(s)
}

// shimStatus is the agent's status for shimEnv under --no-cluster-guard,
// which asks the agent for no lease: it is asked for its status only
// where the shim could matter, and not answering means no shim.
func (e *Env) shimStatus(m Mode) *api.Status {
	if e.shimEnv(m, &api.Status{DLMControl: config.ControlMdclusterd, Cluster: "?"}) == nil {
		return nil
	}
	st, err := status(api.NewClient(e.Socket))
	if err != nil {
		return nil
	}
	return &st
}

// status asks the agent for its status within apiTimeout.
func status(cl *api.Client) (api.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	return cl.Status(ctx)
}

func (e *Env) refused(r *refusal) int {
	fmt.Fprintf(e.Stderr, "%s: %s\n", Prog, r.msg)
	return r.code
}

func errText(err error) string {
	if errors.Is(err, api.ErrAgentDown) {
		return "not running"
	}
	return err.Error()
}

// managed finds t among the agent's arrays by UUID, then by name.
func managed(st *api.Status, t target) (api.ArrayStatus, bool) {
	for _, a := range st.Arrays {
		if t.uuid != "" && mdadmForm(a.UUID) == t.uuid {
			return a, true
		}
	}
	for _, a := range st.Arrays {
		if t.uuid == "" && t.name != "" && (a.Name == t.name || strings.HasSuffix(t.name, ":"+a.Name)) {
			return a, true
		}
	}
	return api.ArrayStatus{}, false
}

// acquire checks the plan against the agent and takes its leases; on a
// refusal every lease already taken is given back.
func (e *Env) acquire(cl *api.Client, st *api.Status, p *plan) ([]held, *refusal) {
	if p.unknown != "" && !p.lessOnly {
		return nil, refuse(2, "%s (or pass --no-cluster-guard); not %s", p.unknown, p.verb)
	}
	var hs []held
	seen := map[string]bool{}
	for _, t := range p.targets {
		a, ok := managed(st, t)
		if !ok {
			if p.lessOnly || (t.kind == "" && t.stop) {
				continue
			}
			e.giveBack(cl, hs, false)
			return nil, refuse(1, "array %s (%s) is not managed by mdclusterd on %s; pass --no-cluster-guard to run mdadm on it unguarded; not %s",
				t.label(), t.from, st.Node, p.verb)
		}
		if p.verb == "creating" && t.uuid == "" {
			e.giveBack(cl, hs, false)
			return nil, refuse(2, "array %s is managed with UUID %s: give --uuid=%s; not creating", a.Name, a.UUID, a.UUID)
		}
		if t.kind == "" || seen[a.UUID+t.kind] {
			continue
		}
		seen[a.UUID+t.kind] = true
		if t.kind == api.KindActivation && a.Mode != config.ModeExclusive {
			continue // clustered arrays run on every node
		}
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		g, err := cl.Acquire(ctx, api.AcquireRequest{Array: a.UUID, Kind: t.kind, Owner: fmt.Sprintf("mdcadm pid %d", os.Getpid())})
		cancel()
		if err != nil {
			e.giveBack(cl, hs, false)
			return nil, heldRefusal(a, t.kind, err, p.verb)
		}
		hs = append(hs, held{arr: a, grant: g, fresh: a.ActiveOn != st.Node})
	}
	return hs, nil
}

func (t target) label() string {
	if t.name != "" {
		return t.name
	}
	if t.uuid != "" {
		return t.uuid
	}
	return "(new)"
}

// heldRefusal words an Acquire failure: the holder when another node
// holds the lease, else the agent's reason.
func heldRefusal(a api.ArrayStatus, kind string, err error, verb string) *refusal {
	var re *api.RemoteError
	if errors.As(err, &re) && re.Code == 409 {
		if kind == api.KindActivation {
			return refuse(1, "array %s is active on %s (activation lease held); not %s", a.Name, re.Body.Holder, verb)
		}
		return refuse(1, "array %s: %s lease held by %s; not %s", a.Name, kind, re.Body.Holder, verb)
	}
	return refuse(1, "array %s: mdclusterd refused the %s lease: %v; not %s", a.Name, kind, errText(err), verb)
}

// giveBack releases what must not outlive the command: admin leases
// always, recovery and fresh activation leases when mdadm failed (after
// success the agent keeps them: activation while the array runs, recovery
// until md's rebuild ends).
// The requests run on their own bounded contexts: a signal that ended
// the wait must not stop the release.
func (e *Env) giveBack(cl *api.Client, hs []held, ok bool) {
	for _, h := range hs {
		switch {
		case h.grant.Kind == api.KindAdmin,
			!ok && h.grant.Kind != api.KindActivation,
			!ok && h.fresh:
			ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
			err := cl.Release(ctx, api.ReleaseRequest{Array: h.grant.Array, Kind: h.grant.Kind, Token: h.grant.Token})
			cancel()
			if err != nil {
				fmt.Fprintf(e.Stderr, "%s: array %s: releasing the %s lease: %v\n", Prog, h.arr.Name, h.grant.Kind, err)
			}
		}
	}
}

// afterStop hands the activation lease of every array the command
// stopped back to the agent, so another node can take the array over.
// An agent that refuses the release keeps the lease, and that is an error.
func (e *Env) afterStop(cl *api.Client, st *api.Status, p *plan) error {
	var stopped []api.ArrayStatus
	for _, a := range st.Arrays {
		if a.Mode != config.ModeExclusive || a.ActiveOn != st.Node {
			continue
		}
		for _, t := range p.targets {
			if m, ok := managed(st, t); ok && t.stop && m.UUID == a.UUID {
				stopped = append(stopped, a)
			}
		}
		if p.stopAll && a.Device != "" {
			stopped = append(stopped, a)
		}
	}
	for _, a := range stopped {
		var token uint64
		for _, l := range st.Leases {
			if l.Kind == api.KindActivation && l.Holder == st.Node && (l.Array == a.Name || l.Array == a.UUID) {
				token = l.Token
			}
		}
		// The agent takes the stop from here: it stops a copy it may have assembled again in
		// the meantime, gives the lease back and stands by.
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		err := cl.Release(ctx, api.ReleaseRequest{Array: a.UUID, Kind: api.KindActivation, Token: token})
		cancel()
		if err != nil {
			return fmt.Errorf("array %s was stopped, but mdclusterd kept its activation lease: %s", a.Name, errText(err))
		}
	}
	return nil
}
