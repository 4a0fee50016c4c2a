package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

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

// guarded runs a changing command: leases first, then mdadm with args,
// then the leases that must not outlive the command go back.
func guarded(c *Config, args []string, noGuard bool, env *Env) int {
	extra := env.shimEnv(c.Mode)
	if noGuard {
		return env.runMdadm(args, extra)
	}
	p, err := env.makePlan(c)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v; not running mdadm\n", Prog, err)
		return 1
	}
	ctx := context.Background()
	cl := api.NewClient(env.Socket)
	st, err := cl.Status(ctx)
	if err != nil {
		if p.lessOnly {
			return env.runMdadm(args, extra) // doing less is always safe
		}
		return env.refused(refuse(1, "mdclusterd does not answer on %s (%v); not %s", env.Socket, errText(err), p.verb))
	}
	hs, r := env.acquire(ctx, cl, &st, p)
	if r != nil {
		return env.refused(r)
	}
	unlock := func() {}
	if st.Engine == config.EngineKernel && !p.mdadmLocks && env.AdminLock != nil {
		if unlock, err = env.AdminLock(ctx, st.Cluster); err != nil {
			env.giveBack(ctx, cl, hs, false)
			return env.refused(refuse(1, "%v; not %s", err, p.verb))
		}
	}
	rc := env.runMdadm(args, extra)
	unlock()
	env.giveBack(ctx, cl, hs, rc == 0)
	if rc == 0 {
		if err := env.afterStop(ctx, cl, &st, p); err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", Prog, err)
			return 1
		}
	}
	return rc
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
func (e *Env) acquire(ctx context.Context, cl *api.Client, st *api.Status, p *plan) ([]held, *refusal) {
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
			e.giveBack(ctx, cl, hs, false)
			return nil, refuse(1, "array %s (%s) is not managed by mdclusterd on %s; pass --no-cluster-guard to run mdadm on it unguarded; not %s",
				t.label(), t.from, st.Node, p.verb)
		}
		if p.verb == "creating" && t.uuid == "" {
			e.giveBack(ctx, cl, hs, false)
			return nil, refuse(2, "array %s is managed with UUID %s: give --uuid=%s; not creating", a.Name, a.UUID, a.UUID)
		}
		if t.kind == "" || seen[a.UUID+t.kind] {
			continue
		}
		seen[a.UUID+t.kind] = true
		if t.kind == api.KindActivation && a.Mode != config.ModeExclusive {
			continue // clustered arrays run on every node
		}
		g, err := cl.Acquire(ctx, api.AcquireRequest{Array: a.UUID, Kind: t.kind, Owner: fmt.Sprintf("mdcadm pid %d", os.Getpid())})
		if err != nil {
			e.giveBack(ctx, cl, hs, false)
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
func (e *Env) giveBack(ctx context.Context, cl *api.Client, hs []held, ok bool) {
	for _, h := range hs {
		switch {
		case h.grant.Kind == api.KindAdmin,
			!ok && h.grant.Kind != api.KindActivation,
			!ok && h.fresh:
			if err := cl.Release(ctx, api.ReleaseRequest{Array: h.grant.Array, Kind: h.grant.Kind, Token: h.grant.Token}); err != nil {
				fmt.Fprintf(e.Stderr, "%s: array %s: releasing the %s lease: %v\n", Prog, h.arr.Name, h.grant.Kind, err)
			}
		}
	}
}

// afterStop hands the activation lease of every array the command
// stopped back to the agent, so another node can take the array over.
// An agent that refuses the release keeps the lease, and that is an error.
func (e *Env) afterStop(ctx context.Context, cl *api.Client, st *api.Status, p *plan) error {
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
		if err := cl.Release(ctx, api.ReleaseRequest{Array: a.UUID, Kind: api.KindActivation, Token: token}); err != nil {
			return fmt.Errorf("array %s was stopped, but mdclusterd kept its activation lease: %s", a.Name, errText(err))
		}
	}
	return nil
}
